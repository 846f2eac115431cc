package boltstore_test

import (
	"testing"

	"github.com/tether-go/tether/internal/apptest"
)

// The end-to-end walk through the session manager (header tokens, rotation,
// remember me, device attributes, revoking a device) on one file.
func TestJourney(t *testing.T) {
	apptest.Journey(t, open(t))
}
