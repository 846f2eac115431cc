package hybridstore_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The conformance suite over memstore, with a fake clock shared by the
// remote and the hybrid, once per way of keeping entries fresh: a new hybrid
// store per subtest, over one remote.
func TestConformanceMemstore(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(*memstore.Store) store.Store
	}{
		{"Notify", func(m *memstore.Store) store.Store { return newBus(m) }},
		{"Revalidate", func(m *memstore.Store) store.Store { return versionedRemote{&remote{inner: m}} }},
		{"TTL", func(m *memstore.Store) store.Store { return plainRemote{&remote{inner: m}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC))
			m := memstore.New(memstore.WithClock(clock.Now))
			t.Cleanup(func() { m.Close() })
			r := tc.wrap(m)
			var total hybridstore.Stats
			t.Cleanup(func() {
				// The suite must have exercised the cache, not only the remote.
				if total.Hits == 0 {
					t.Errorf("no local hit in the whole suite: %+v", total)
				}
			})
			storetest.Run(t, func(t *testing.T) store.Store {
				h := newHybrid(t, r, hybridstore.WithClock(clock.Now))
				t.Cleanup(func() {
					st := h.Stats()
					total.Hits += st.Hits
					total.Misses += st.Misses
					total.Loads += st.Loads
					total.Revalidations += st.Revalidations
					total.Invalidations += st.Invalidations
				})
				return h
			}, storetest.WithClock(clock.Now, clock.Advance))
		})
	}
}

// checkHits fails the test if the suite never hit the local cache, which
// would mean it tested only the remote.
func checkHits(t *testing.T, h *hybridstore.Store) {
	t.Helper()
	t.Cleanup(func() {
		if st := h.Stats(); st.Hits == 0 {
			t.Errorf("no local hit in the whole suite: %+v", st)
		} else {
			t.Logf("stats after the suite: %+v", st)
		}
	})
}

func TestReportsLoadSource(t *testing.T) {
	mem := memstore.New()
	t.Cleanup(func() { mem.Close() })
	hs := hybridstore.New(mem, hybridstore.WithLocalTTL(time.Minute))
	t.Cleanup(func() { hs.Close() })
	ctx := t.Context()
	id := strings.Repeat("ab", 32)
	now := time.Now()
	// Written behind the cache's back: the first load must go remote.
	if _, err := mem.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []store.Source{store.SourceRemote, store.SourceLocal} {
		var tr store.LoadTrace
		if rec, err := hs.Load(store.WithLoadTrace(ctx, &tr), id); err != nil || rec == nil {
			t.Fatalf("load %d: %v, %v", i, rec, err)
		}
		if tr.Source != want {
			t.Errorf("load %d reported source %v, want %v", i, tr.Source, want)
		}
	}
}
