package hybridstore_test

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/internal/testserver"
)

// TestJourney holds the hybrid tier over Redis to header tokens through
// rotation, remember-me lifetimes and device attributes, end to end through
// the middleware.
func TestJourney(t *testing.T) {
	t.Parallel()
	srv := testserver.Redis(t)
	apptest.Journey(t, newHybrid(t, newRedisStore(t, newRedisClient(t, srv.Addr()), "")))
}
