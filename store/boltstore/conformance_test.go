package boltstore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
	"github.com/tether-go/tether/store/storetest"
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as the process it kills.
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	goleak.VerifyTestMain(m)
}

// open opens a store in a file of t's temporary directory, closed at the
// end of t.
func open(t testing.TB, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "sessions.db"), opts...)
}

func openAt(t testing.TB, path string, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformanceFakeClock(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC))
	// One file for the whole suite, as one pod has.
	s := open(t, boltstore.WithClock(clock.Now))
	storetest.Run(t, func(t *testing.T) store.Store { return s },
		storetest.WithClock(clock.Now, clock.Advance))
}

func TestConformanceRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for real expiries")
	}
	s := open(t)
	storetest.Run(t, func(t *testing.T) store.Store { return s })
}
