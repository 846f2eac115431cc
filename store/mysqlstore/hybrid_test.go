package mysqlstore

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/storetest"
)

func newHybrid(t *testing.T, r store.Store, opts ...hybridstore.Option) *hybridstore.Store {
	t.Helper()
	h := hybridstore.New(r, opts...)
	t.Cleanup(func() { h.Close() })
	return h
}

// checkHits fails the test if the suite never hit the local cache, which
// would mean it tested only the remote.
func checkHits(t *testing.T, h *hybridstore.Store) {
	t.Helper()
	t.Cleanup(func() {
		if st := h.Stats(); st.Hits == 0 || st.Revalidations == 0 {
			t.Errorf("no local hit or no revalidation in the whole suite: %+v", st)
		} else {
			t.Logf("stats after the suite: %+v", st)
		}
	})
}

// The hybrid tier's conformance over mysqlstore, which it keeps fresh with
// store.Versioner (MySQL has no LISTEN/NOTIFY): every hit is revalidated by
// one version read, so a write on another node is seen at once.
var _ = backendTest("Hybrid", func(t *testing.T, db *sql.DB, dsn string) {
	t.Run("Conformance", func(t *testing.T) {
		h := newHybrid(t, newStore(t, db))
		storetest.Run(t, func(t *testing.T) store.Store { return h })
		checkHits(t, h)
	})
	t.Run("ConformanceFakeClock", func(t *testing.T) {
		clock := storetest.NewClock(time.Now())
		h := newHybrid(t, newStore(t, db, WithClock(clock.Now)), hybridstore.WithClock(clock.Now))
		storetest.Run(t, func(t *testing.T) store.Store { return h }, storetest.WithClock(clock.Now, clock.Advance), lateWritesByServerClock)
		checkHits(t, h)
	})

	// Two nodes, each with its own pool and hybrid tier, on one table.
	table := "n_" + randHex(6)
	a := newHybrid(t, newStore(t, openDB(t, dsn), WithTable(table)))
	b := newHybrid(t, newStore(t, openDB(t, dsn), WithTable(table)))
	ctx := ctxT(t)
	value := func(h store.Store, id string) string {
		rec, err := h.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil {
			return "<none>"
		}
		return string(rec.Values.Get("k"))
	}

	t.Run("WriteOnBVisibleOnA", func(t *testing.T) {
		id, _ := createRecord(t, a, time.Now())
		for range 2 { // the second is a local hit
			if v := value(a, id); v != "v" {
				t.Fatalf("A reads %q, want v", v)
			}
		}
		if _, err := b.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("w")}}); err != nil {
			t.Fatal(err)
		}
		if v := value(a, id); v != "w" {
			t.Errorf("A reads %q right after B's write, want w", v)
		}
	})
	t.Run("LogoutOnBHonouredOnA", func(t *testing.T) {
		id, _ := createRecord(t, a, time.Now())
		value(a, id)
		value(a, id)
		if err := b.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if v := value(a, id); v != "<none>" {
			t.Errorf("A reads %q right after B's delete, want nothing", v)
		}
	})
})
