package storetest

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/tether-go/tether/store"
)

// Held is a record a Load returned, kept with a copy of what it held then,
// for a backend's own tests that hold records while other goroutines write,
// evict and sweep: a store must never change a record it handed out (the
// suite's RecordsAreSnapshots checks it one write at a time).
type Held struct {
	rec, want *store.Record
}

// Hold keeps rec, which a Load returned.
func Hold(rec *store.Record) Held { return Held{rec: rec, want: cloneRecord(rec)} }

// Changed reports whether the record changed since Hold.
func (h Held) Changed() bool { return !sameRecord(h.rec, h.want) }

// HoldingReaders starts n goroutines that Load records of random ids from s
// until stop is called, each keeping the last keep records it was handed and
// checking them all after every Load. stop waits for them and returns how
// many times a held record was found changed.
func HoldingReaders(ctx context.Context, s store.Store, ids []string, n, keep int) (stop func() int) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var changed atomic.Int64
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 5))
			var held []Held
			for {
				select {
				case <-done:
					return
				default:
				}
				if rec, _ := s.Load(ctx, ids[r.IntN(len(ids))]); rec != nil {
					if held = append(held, Hold(rec)); len(held) > keep {
						held = held[1:]
					}
				}
				for _, h := range held {
					if h.Changed() {
						changed.Add(1)
					}
				}
			}
		}()
	}
	return func() int {
		close(done)
		wg.Wait()
		return int(changed.Load())
	}
}
