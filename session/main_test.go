package session_test

import (
	"testing"

	"go.uber.org/goleak"
)

// A Manager's default store may run a sweep; Close must wait for it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
