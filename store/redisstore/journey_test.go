package redisstore_test

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/internal/testserver"
)

// TestJourney holds Redis to header tokens through rotation, remember-me
// lifetimes and device attributes, end to end through the middleware.
func TestJourney(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t)
	apptest.Journey(t, newStore(t, newClient(t, rdb.Addr())))
}
