package pgstore

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/internal/testserver"
)

// TestJourney holds Postgres to header tokens through rotation, remember-me
// lifetimes and device attributes, end to end through the middleware.
func TestJourney(t *testing.T) {
	pg := testserver.Postgres(t)
	apptest.Journey(t, newStore(t, newPool(t, pg)))
}
