package mysqlstore

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
)

// TestJourney holds MySQL/MariaDB to header tokens through rotation,
// remember-me lifetimes and device attributes, end to end through the
// middleware.
func TestJourney(t *testing.T) {
	_, dsn := startServer(t)
	apptest.Journey(t, newStore(t, openDB(t, dsn)))
}
