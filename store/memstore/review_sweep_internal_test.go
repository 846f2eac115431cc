package memstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/store"
)

// zzClock is a settable clock for the store.
type zzClock struct{ ns atomic.Int64 }

func (c *zzClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *zzClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newZZClock(t time.Time) *zzClock      { c := &zzClock{}; c.ns.Store(t.UnixNano()); return c }
func zzWaitLen(s *Store, want int) int {
	for deadline := time.Now().Add(time.Second); s.Len() != want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	return s.Len()
}

// WithCleanupInterval(math.MaxInt64), the "practically never" a ticker
// accepted (it never fired), now sweeps on every call: New's first due time
// (now + interval) is past 2262, so its UnixNano wraps negative, and each
// start's next (t + interval) overflows the same way. "At most once every
// interval" becomes "on every call": a goroutine per store call.
func TestHugeCleanupIntervalDoesNotSweepOnEveryCall(t *testing.T) {
	ctx := context.Background()
	clock := newZZClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	s := New(WithClock(clock.now), WithCleanupInterval(time.Duration(math.MaxInt64)))
	t.Cleanup(func() { s.Close() })
	for round := range 2 {
		now := clock.now()
		c := store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(time.Minute)}
		if _, err := s.Commit(ctx, fmt.Sprintf("%064x", round), c); err != nil {
			t.Fatal(err)
		}
		clock.advance(2 * time.Minute) // the record expires; the interval is ~292 years
		if _, err := s.Load(ctx, "none"); err != nil {
			t.Fatal(err)
		}
		if n := zzWaitLen(s, 0); n != round+1 {
			t.Errorf("round %d: Len = %d, want %d: a sweep ran %v after New with a cleanup interval of %v",
				round, n, round+1, time.Duration(round+1)*2*time.Minute, time.Duration(math.MaxInt64))
		}
	}
}

// zzCheck checks the store's bookkeeping: counters match the shards, each
// entry is in its class's heap at its index, heaps hold only mapped
// entries, and the user index names exactly the records with a user id.
func zzCheck(t *testing.T, s *Store, step string) {
	t.Helper()
	var entries, bytes int64
	byUser := map[string]map[string]bool{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for id, e := range sh.m {
			entries++
			bytes += e.size
			h := *sh.heap(e.user)
			if int(e.index) >= len(h) || h[e.index] != e {
				t.Errorf("%s: entry %s not at its heap index", step, id)
			}
			if e.rec.UserID != "" {
				if byUser[e.rec.UserID] == nil {
					byUser[e.rec.UserID] = map[string]bool{}
				}
				byUser[e.rec.UserID][id] = true
			}
		}
		for u := range 2 {
			for _, e := range sh.heaps[u] {
				if sh.m[e.id] != e {
					t.Errorf("%s: heap holds %s, not in the map", step, e.id)
				}
			}
		}
		sh.mu.RUnlock()
	}
	if got := s.entries.Load(); got != entries {
		t.Errorf("%s: entries counter %d, shards hold %d", step, got, entries)
	}
	if got := s.bytes.Load(); got != bytes {
		t.Errorf("%s: bytes counter %d, shards hold %d", step, got, bytes)
	}
	s.users.mu.Lock()
	indexed := map[string]map[string]bool{}
	for u, id := range s.users.one {
		indexed[u] = map[string]bool{id: true}
	}
	for u, ids := range s.users.m {
		indexed[u] = map[string]bool{}
		for _, id := range ids.few {
			indexed[u][id] = true
		}
		for id := range ids.many {
			indexed[u][id] = true
		}
	}
	s.users.mu.Unlock()
	for u, ids := range byUser {
		for id := range ids {
			if !indexed[u][id] {
				t.Errorf("%s: %s's record %s is not indexed", step, u, id)
			}
		}
	}
	for u, ids := range indexed {
		for id := range ids {
			if !byUser[u][id] {
				t.Errorf("%s: index names %s under %s, no such record", step, id, u)
			}
		}
	}
}

// Sweeps started by calls (1 ms interval, real clock, short TTLs) racing
// eviction, rotations (Move), DeleteUser, UserSessions and Touch: after the
// writers return, the store is within its bounds (every write is a user's,
// so eviction always has a candidate) and its bookkeeping is exact.
func TestSweepRacingEverything(t *testing.T) {
	for iter := range 4 {
		ctx := context.Background()
		const max = 40
		s := New(WithMaxEntries(max), WithMaxBytes(6000), WithCleanupInterval(time.Millisecond))
		users := []string{"ann", "bob", "cy"}
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(iter), uint64(g)))
				for i := range 1500 {
					id := fmt.Sprintf("%02d%062x", g, r.IntN(60))
					user := users[r.IntN(len(users))]
					now := time.Now()
					ttl := time.Duration(r.IntN(4000)) * time.Microsecond
					switch r.IntN(7) {
					case 0, 1:
						c := store.Change{Mode: store.Create, UserID: user, LastSeen: now, Expires: now.Add(ttl), Set: map[string][]byte{"k": make([]byte, r.IntN(100))}}
						s.Commit(ctx, id, c)
					case 2:
						c := store.Change{Mode: store.Update, LastSeen: now, Expires: now.Add(ttl), Set: map[string][]byte{"k": make([]byte, r.IntN(150))}}
						s.Commit(ctx, id, c)
					case 3:
						to := fmt.Sprintf("%02d%062x", g, 1000+i)
						if s.Move(ctx, id, store.Moved{To: to}, now.Add(ttl), 0) == nil {
							c := store.Change{Mode: store.Create, UserID: user, LastSeen: now, Expires: now.Add(ttl)}
							s.Commit(ctx, to, c)
						}
					case 4:
						s.UserSessions(ctx, user)
					case 5:
						if r.IntN(10) == 0 {
							s.DeleteUser(ctx, user)
						} else {
							s.Touch(ctx, id, now, now.Add(ttl))
						}
					case 6:
						s.Load(ctx, id)
					}
				}
			}()
		}
		wg.Wait()
		s.sweeper.Close() // let a running sweep finish; later pokes do nothing
		if n := s.Len(); n > max {
			t.Errorf("iter %d: Len = %d after the writers returned, over the bound %d", iter, n, max)
		}
		if b := s.bytes.Load(); b > 6000 {
			t.Errorf("iter %d: bytes = %d after the writers returned, over the bound", iter, b)
		}
		zzCheck(t, s, fmt.Sprintf("iter %d", iter))
		s.Close()
	}
}

// Close while a sweep of many expired records runs, with calls racing it:
// Close waits for the sweep, every call after Close returns ErrClosed and
// starts nothing, the store is empty and no goroutine is left.
func TestCloseDuringSweepThenCalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx := context.Background()
	for iter := range 5 {
		clock := newZZClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
		s := New(WithClock(clock.now), WithCleanupInterval(time.Minute))
		now := clock.now()
		for i := range 20000 {
			c := store.Change{Mode: store.Create, UserID: "u" + fmt.Sprint(i%50), LastSeen: now, Expires: now.Add(time.Minute)}
			if _, err := s.Commit(ctx, fmt.Sprintf("%064x", i), c); err != nil {
				t.Fatal(err)
			}
		}
		clock.advance(2 * time.Minute)
		var wg sync.WaitGroup
		var afterClose atomic.Bool
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					id := fmt.Sprintf("%064x", i*4+g)
					_, err := s.Load(ctx, id)
					if afterClose.Load() && !errors.Is(err, ErrClosed) {
						t.Errorf("Load after Close: %v, want ErrClosed", err)
						return
					}
					clock.advance(time.Minute)
				}
			}()
		}
		time.Sleep(time.Duration(iter) * 100 * time.Microsecond)
		s.Close()
		afterClose.Store(true)
		wg.Wait()
		if n := s.Len(); n != 0 {
			t.Errorf("iter %d: Len = %d after Close", iter, n)
		}
		if _, err := s.Commit(ctx, "x", store.Change{Mode: store.Create, Expires: clock.now().Add(time.Hour)}); !errors.Is(err, ErrClosed) {
			t.Errorf("Commit after Close: %v", err)
		}
	}
}

// A clock that goes back (by less than two intervals, then more) neither
// stops the sweep for good nor makes it sweep live records.
func TestClockBackSweep(t *testing.T) {
	ctx := context.Background()
	clock := newZZClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	s := New(WithClock(clock.now), WithCleanupInterval(time.Minute))
	t.Cleanup(func() { s.Close() })
	now := clock.now()
	s.Commit(ctx, fmt.Sprintf("%064x", 1), store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(-time.Second)})
	s.Commit(ctx, fmt.Sprintf("%064x", 2), store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(time.Hour)})
	clock.advance(-time.Hour) // back: due at once (more than 2 intervals)
	s.Load(ctx, "x")
	time.Sleep(20 * time.Millisecond)
	// Back an hour, nothing is expired by the store's clock: nothing swept.
	if n := s.Len(); n != 2 {
		t.Fatalf("Len = %d after a sweep at a clock an hour back, want 2", n)
	}
	clock.advance(time.Hour + 2*time.Minute) // forward again
	s.Load(ctx, "x")
	if n := zzWaitLen(s, 1); n != 1 {
		t.Fatalf("Len = %d after the clock came back, want 1 (the expired record swept)", n)
	}
}
