// Package cachecompare measures the two candidate cache libraries for the
// hybrid tier on what the tier needs: the hit path, byte-bounded weighing,
// and the hit ratio on session-like traces.
package cachecompare

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
)

// entry stands in for the tier's cached record.
type entry struct {
	size int
	data []byte
}

const overhead = 200

func weight(k string, e *entry) uint32 { return uint32(len(k) + e.size + overhead) }

type cache interface {
	get(k string) (*entry, bool)
	set(k string, e *entry)
	del(k string)
	weight() uint64 // the library's own account
	sum() uint64    // recounted by iterating what is there
	close()
}

type otterCache struct{ c *otter.Cache[string, *entry] }

func newOtter(maxBytes uint64) cache {
	return &otterCache{otter.Must(&otter.Options[string, *entry]{MaximumWeight: maxBytes, Weigher: weight})}
}
func (o *otterCache) get(k string) (*entry, bool) { return o.c.GetIfPresent(k) }
func (o *otterCache) set(k string, e *entry)      { o.c.Set(k, e) }
func (o *otterCache) del(k string)                { o.c.Invalidate(k) }
func (o *otterCache) weight() uint64              { o.c.CleanUp(); return o.c.WeightedSize() }
func (o *otterCache) sum() uint64 {
	var n uint64
	for k, v := range o.c.All() {
		n += uint64(weight(k, v))
	}
	return n
}
func (o *otterCache) close() { o.c.StopAllGoroutines() }

type ristrettoCache struct {
	c    *ristretto.Cache[string, *entry]
	wait bool
}

func newRistretto(maxBytes uint64, items int, wait bool) cache {
	c, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters:        int64(items) * 10,
		MaxCost:            int64(maxBytes),
		BufferItems:        64,
		Metrics:            true,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic(err)
	}
	return &ristrettoCache{c: c, wait: wait}
}
func (r *ristrettoCache) get(k string) (*entry, bool) { return r.c.Get(k) }
func (r *ristrettoCache) set(k string, e *entry) {
	r.c.Set(k, e, int64(weight(k, e)))
	if r.wait {
		r.c.Wait()
	}
}
func (r *ristrettoCache) del(k string) { r.c.Del(k) }
func (r *ristrettoCache) weight() uint64 {
	r.c.Wait()
	return r.c.Metrics.CostAdded() - r.c.Metrics.CostEvicted()
}
func (r *ristrettoCache) sum() uint64 {
	var n uint64
	r.c.IterValues(func(v *entry) bool { n += uint64(v.size + 64 + overhead); return false })
	return n
}
func (r *ristrettoCache) close() { r.c.Close() }

func key(i int) string { return fmt.Sprintf("%064x", i) }

func newEntry(rng *rand.Rand) *entry {
	// Session records: mostly small, some large (a cart, a form draft).
	n := 200 + rng.IntN(800)
	if rng.IntN(20) == 0 {
		n = 4000 + rng.IntN(12000)
	}
	return &entry{size: n}
}

var libs = []struct {
	name string
	make func(maxBytes uint64, items int) cache
}{
	{"otter", func(m uint64, _ int) cache { return newOtter(m) }},
	{"ristretto", func(m uint64, n int) cache { return newRistretto(m, n, false) }},
	{"ristretto+Wait", func(m uint64, n int) cache { return newRistretto(m, n, true) }},
}

func BenchmarkHit(b *testing.B) {
	const n = 10_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = key(i)
	}
	for _, l := range libs[:2] {
		b.Run(l.name, func(b *testing.B) {
			c := l.make(1<<30, n)
			defer c.close()
			rng := rand.New(rand.NewPCG(1, 2))
			for _, k := range keys {
				c.set(k, newEntry(rng))
			}
			if r, ok := c.(*ristrettoCache); ok {
				r.c.Wait()
			}
			var misses atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(n)
				for pb.Next() {
					if _, ok := c.get(keys[i]); !ok {
						misses.Add(1)
					}
					if i++; i == n {
						i = 0
					}
				}
			})
			b.ReportMetric(float64(misses.Load())/float64(b.N), "miss/op")
		})
	}
}

// BenchmarkWrite is the tier's write path: replace an entry, as a local
// write-through does, then read it back.
func BenchmarkWrite(b *testing.B) {
	const n = 10_000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = key(i)
	}
	for _, l := range libs[:2] {
		b.Run(l.name, func(b *testing.B) {
			c := l.make(1<<30, n)
			defer c.close()
			e := &entry{size: 500}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(n)
				for pb.Next() {
					c.set(keys[i], e)
					if i++; i == n {
						i = 0
					}
				}
			})
		})
	}
}

// TestByteBound fills each cache with four times its byte budget and checks
// what it holds against the budget.
func TestByteBound(t *testing.T) {
	const budget = 8 << 20
	for _, l := range libs {
		c := l.make(budget, 40_000)
		rng := rand.New(rand.NewPCG(3, 4))
		var inserted uint64
		for i := 0; inserted < 4*budget; i++ {
			e := newEntry(rng)
			k := key(i)
			inserted += uint64(weight(k, e))
			c.set(k, e)
		}
		t.Logf("%-15s budget %d: library accounts %d, recounted %d (%.1f%% of budget)", l.name, budget, c.weight(), c.sum(), 100*float64(c.sum())/budget)
		c.close()
	}
}

// trace is a sequence of accessed keys.
type trace struct {
	name string
	keys []int
}

func zipfTrace(n, distinct int, s float64) trace {
	rng := rand.New(rand.NewPCG(5, 6))
	z := rand.NewZipf(rng, s, 1, uint64(distinct-1))
	keys := make([]int, n)
	for i := range keys {
		keys[i] = int(z.Uint64())
	}
	return trace{"zipf" + strconv.FormatFloat(s, 'f', 2, 64), keys}
}

// churnTrace models sticky sessions: a pool of active sessions, each request
// goes to one of them (recent ones more likely), and sessions end and new
// ones begin all the time.
func churnTrace(n, active int) trace {
	rng := rand.New(rand.NewPCG(7, 8))
	pool := make([]int, active)
	next := 0
	for i := range pool {
		pool[i] = next
		next++
	}
	keys := make([]int, n)
	for i := range keys {
		if rng.IntN(20) == 0 { // a session ends, a new one starts
			pool[rng.IntN(active)] = next
			next++
		}
		keys[i] = pool[rng.IntN(active)]
	}
	return trace{"churn", keys}
}

// scanTrace is zipf with a periodic one-off scan (an admin listing every
// session, a crawler without cookies reusing nothing).
func scanTrace(n, distinct int) trace {
	z := zipfTrace(n, distinct, 1.05)
	for i := 0; i < n; i += 10_000 {
		for j := 0; j < 2000 && i+j < n; j++ {
			z.keys[i+j] = distinct + i + j
		}
	}
	z.name = "zipf+scan"
	return z
}

func TestHitRatio(t *testing.T) {
	const n, distinct = 500_000, 100_000
	traces := []trace{zipfTrace(n, distinct, 1.01), zipfTrace(n, distinct, 1.2), churnTrace(n, 20_000), scanTrace(n, distinct)}
	for _, tr := range traces {
		// Budgets of 1/10 and 1/50 of what all distinct entries weigh
		// (about 1.3 KB each on average with the overhead).
		for _, frac := range []int{10, 50} {
			budget := uint64(distinct) * 1300 / uint64(frac)
			for _, l := range libs {
				c := l.make(budget, distinct)
				rng := rand.New(rand.NewPCG(9, 10))
				sizes := map[int]*entry{}
				hits := 0
				for _, k := range tr.keys {
					ks := key(k)
					if _, ok := c.get(ks); ok {
						hits++
						continue
					}
					e := sizes[k]
					if e == nil {
						e = newEntry(rng)
						sizes[k] = e
					}
					c.set(ks, e)
				}
				t.Logf("%-10s budget %5.1f MB  %-15s hit ratio %.2f%%", tr.name, float64(budget)/1e6, l.name, 100*float64(hits)/float64(len(tr.keys)))
				c.close()
			}
		}
	}
}
