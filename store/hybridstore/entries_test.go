package hybridstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// Readers hit the cache and keep what Load returned while writers update,
// touch and rotate the same IDs, notifications are absorbed, hits are
// revalidated and the remote fails now and then (race detector on): an
// entry, once published, must not change, and neither must a record
// handed out. Since an entry holds its record by value, a record's
// immutability rests on entries never being modified in place; a review's
// mutations (an entry's confirmed time, epoch or echo counts changed in
// place) passed every other test and fail this one under the race detector.
func TestEntriesNeverChangeUnderHits(t *testing.T) {
	for _, mode := range []string{"Notify", "Revalidate", "TTLStale"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			mem := memstore.New()
			t.Cleanup(func() { mem.Close() })
			var r *remote
			var h *hybridstore.Store
			switch mode {
			case "Notify":
				r = &remote{inner: newBus(mem)}
				h = newHybrid(t, notifyingRemote{r})
			case "Revalidate":
				r = &remote{inner: mem}
				h = newHybrid(t, versionedRemote{r}) // no local TTL: every hit revalidates
			default:
				r = &remote{inner: mem}
				h = newHybrid(t, plainRemote{r}, hybridstore.WithLocalTTL(time.Hour), hybridstore.WithStaleIfError(time.Hour))
			}
			ids := make([]string, 4)
			now := time.Now()
			for i := range ids {
				ids[i] = fmt.Sprintf("%064d", i)
				create(t, h, ids[i], "", now, "k", "0")
			}
			readers := storetest.HoldingReaders(ctx, h, ids, 3, 32)
			var wg sync.WaitGroup
			for g := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rr := rand.New(rand.NewPCG(uint64(g), 4))
					for i := range 400 {
						id := ids[rr.IntN(len(ids))]
						switch rr.IntN(6) {
						case 0:
							h.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour))
						case 1:
							if mode == "TTLStale" {
								r.down.Store(true)
								h.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour)) // fails: entry demoted
								h.Load(ctx, id)                                         // degraded read
								r.down.Store(false)
							}
						default:
							h.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte(fmt.Sprint(i))}})
						}
					}
				}()
			}
			wg.Wait()
			if n := readers(); n > 0 {
				t.Errorf("%d reads saw a record Load had returned change", n)
			}
			if st := h.Stats(); st.Hits == 0 {
				t.Errorf("no hit: %+v", st)
			}
		})
	}
}
