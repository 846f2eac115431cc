package session_test

import (
	"testing"

	"go.uber.org/goleak"
)

// A Manager's default store runs a janitor; Close must stop it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
