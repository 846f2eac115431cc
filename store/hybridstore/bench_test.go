package hybridstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
)

// benchRecord creates a session of a typical size (a few keys, 1 KB) through
// s and returns its ID.
func benchRecord(b *testing.B, s store.Store) string {
	b.Helper()
	id := newID()
	create(b, s, id, "user-1", time.Now(), "a", "1", "cart", string(make([]byte, 1000)), "theme", "dark")
	return id
}

// BenchmarkLoad compares a hybrid hit with a load from Redis: what a sticky
// read saves.
func BenchmarkLoad(b *testing.B) {
	srv := testserver.Redis(b)
	rs := newRedisStore(b, newRedisClient(b, srv.Addr()), "")
	h := newHybrid(b, rs)
	id := benchRecord(b, rs)
	ctx := context.Background()
	for name, s := range map[string]store.Store{"HybridHit": h, "Redis": rs} {
		b.Run(name, func(b *testing.B) {
			load(b, s, id)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Load(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("HybridHitParallel", func(b *testing.B) {
		load(b, h, id)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Load(ctx, id); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkCommit compares a commit through the hybrid store (the remote
// commit and the local update) with a commit straight to Redis.
func BenchmarkCommit(b *testing.B) {
	srv := testserver.Redis(b)
	rs := newRedisStore(b, newRedisClient(b, srv.Addr()), "")
	h := newHybrid(b, rs)
	ctx := context.Background()
	for name, s := range map[string]store.Store{"Hybrid": h, "Redis": rs} {
		b.Run(name, func(b *testing.B) {
			id := benchRecord(b, s)
			load(b, s, id)
			c := store.Change{Mode: store.Update, Set: map[string][]byte{"n": nil}}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				c.Set["n"] = []byte(strconv.Itoa(i))
				if _, err := s.Commit(ctx, id, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteRead is a request that writes its session, then one that
// reads it, on one node over Redis: with the node's own echoes absorbed
// (the default) and with every notification evicting. remote-loads/op is
// what the echo handling saves.
func BenchmarkWriteRead(b *testing.B) {
	srv := testserver.Redis(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opts []hybridstore.Option
	}{
		{"AbsorbOwnEchoes", nil},
		{"EvictOnEveryEvent", []hybridstore.Option{hybridstore.WithoutEchoSkip()}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			n := newNode(b, newRedisStore(b, newRedisClient(b, srv.Addr()), ""), tc.opts...)
			id := benchRecord(b, n.h)
			load(b, n.h, id)
			c := store.Change{Mode: store.Update, Set: map[string][]byte{"n": nil}}
			loads := n.remote.loads.Load()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				c.Set["n"] = []byte(strconv.Itoa(i))
				if _, err := n.h.Commit(ctx, id, c); err != nil {
					b.Fatal(err)
				}
				if _, err := n.h.Load(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n.remote.loads.Load()-loads)/float64(b.N), "remote-loads/op")
		})
	}
}

// BenchmarkHit is the hit path alone, over memstore: no network at all.
func BenchmarkHit(b *testing.B) {
	mem := memstore.New()
	b.Cleanup(func() { mem.Close() })
	for _, mode := range []struct {
		name string
		s    store.Store
	}{
		{"Notify", newBus(mem)},
		{"TTL", plainRemote{&remote{inner: mem}}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			h := newHybrid(b, mode.s, hybridstore.WithLocalTTL(time.Hour))
			id := benchRecord(b, h)
			if bus, ok := mode.s.(*bus); ok {
				bus.settle(b) // the create's echo
			}
			load(b, h, id)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Load(ctx, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if st := h.Stats(); st.Misses > 1 {
				b.Errorf("%d misses: %+v", st.Misses, st)
			}
		})
	}
}
