package mongostore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

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

// The hybrid tier's conformance over mongostore, which it keeps fresh with
// store.Versioner (FerretDB has no change streams, so the store is no
// Notifier): every hit is revalidated by one version read.
var _ = backendTest("Hybrid", func(t *testing.T, cl *mongo.Client, f *ferret) {
	t.Run("ConformanceFakeClock", func(t *testing.T) {
		clock := storetest.NewClock(time.Now())
		so, to := smallRecords()
		so = append(so, WithClock(clock.Now))
		var hits, revalidations atomic.Int64
		storetest.Run(t, func(t *testing.T) store.Store {
			h := newHybrid(t, newStore(t, cl, so...), hybridstore.WithClock(clock.Now))
			t.Cleanup(func() {
				st := h.Stats()
				hits.Add(int64(st.Hits))
				revalidations.Add(int64(st.Revalidations))
			})
			return h
		}, append(to, storetest.WithClock(clock.Now, clock.Advance))...)
		t.Cleanup(func() {
			if hits.Load() == 0 || revalidations.Load() == 0 {
				t.Errorf("no local hit (%d) or no revalidation (%d) in the whole suite", hits.Load(), revalidations.Load())
			}
		})
	})

	// Two nodes, each with its own client and hybrid tier, on one collection.
	coll := "n_" + randHex(6)
	node := func() *hybridstore.Store {
		s, err := New(context.Background(), connect(t, f.URI()).Database("tether").Collection(coll), WithTimeout(testTimeout))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return newHybrid(t, s)
	}
	a, b := node(), node()
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
