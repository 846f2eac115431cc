package memstore

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// A write's eviction spares the session it wrote, even when another write
// of the same ID (a Touch) lands between the Commit's unlock and its eviction
// scan. Eviction spares the ID, not the entry: a layout that replaced the
// entry on every write, tried and taken out again, left nothing spared there,
// and the Commit evicted its own session, keeping an older one that expires
// later (a review's test).
//
// The window is opened deterministically through the store's clock: the
// first clock read after the Commit's own (under the shard lock) is
// evictOne's, made with no lock held.
func TestEvictionSparesWriteReplacedBeforeScan(t *testing.T) {
	for _, tc := range []struct {
		name, olderUser string
		wantLen         int
	}{
		// Anonymous sessions older-y (2h) and older-z (3h): new-x (1h)
		// must stay, older-y go.
		{"older anonymous", "", 2},
		// Users' sessions only: an anonymous write evicts no user, and the
		// store stays over its bound by new-x (evict.go's documented case).
		{"older users'", "ann", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			var (
				armed atomic.Int32 // clock reads left before the hook fires
				s     *Store
				touch func()
			)
			clock := func() time.Time {
				if n := armed.Load(); n > 0 && armed.Add(-1) == 0 {
					touch()
				}
				return base
			}
			s = New(WithClock(clock), WithMaxEntries(2), WithCleanupInterval(time.Hour))
			t.Cleanup(func() { s.Close() })
			create := func(id, user string, ttl time.Duration) error {
				c := store.Change{Mode: store.Create, Created: base, LastSeen: base, Expires: base.Add(ttl), UserID: user, SetUserID: true}
				_, err := s.Commit(ctx, id, c)
				return err
			}
			if err := create("older-y", tc.olderUser, 2*time.Hour); err != nil {
				t.Fatal(err)
			}
			if err := create("older-z", tc.olderUser, 3*time.Hour); err != nil {
				t.Fatal(err)
			}
			touch = func() {
				// A second request of the session just created touches
				// it (same expiry: nothing about its rank changes).
				if err := s.Touch(ctx, "new-x", base, base.Add(time.Hour)); err != nil {
					t.Errorf("Touch: %v", err)
				}
			}
			armed.Store(2) // 1: Commit's read under the lock; 2: evictOne's
			if err := create("new-x", "", time.Hour); err != nil {
				t.Fatal(err)
			}
			if armed.Load() != 0 {
				t.Fatal("the hook did not run")
			}
			if rec, _ := s.Load(ctx, "new-x"); rec == nil {
				y, _ := s.Load(ctx, "older-y")
				t.Errorf("Commit(Create new-x) succeeded, then evicted new-x itself (touched in between); older-y kept: %v", y != nil)
			}
			if n := s.Len(); n != tc.wantLen {
				t.Errorf("Len = %d, want %d", n, tc.wantLen)
			}
			zzCheck(t, s, "end")
		})
	}
}

// heapCheck checks the heaps' order and indexes, and that every entry's
// copies (expiry, size, class) agree with its record.
func heapCheck(t *testing.T, s *Store, step string) {
	t.Helper()
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for u := range 2 {
			h := sh.heaps[u]
			for j, e := range h {
				if int(e.index) != j {
					t.Errorf("%s: %s index %d at %d", step, e.id, e.index, j)
				}
				if j > 0 && h[(j-1)/2].expires > e.expires {
					t.Errorf("%s: heap order broken at %d", step, j)
				}
				if e.expires != expiryKey(e.rec.Expires) {
					t.Errorf("%s: %s expires copy %d, record %d", step, e.id, e.expires, expiryKey(e.rec.Expires))
				}
				if e.size != int64(len(e.id)+e.rec.Size()) {
					t.Errorf("%s: %s size %d, want %d", step, e.id, e.size, len(e.id)+e.rec.Size())
				}
				if e.user != (u == 1) {
					t.Errorf("%s: %s user=%v in heap %d", step, e.id, e.user, u)
				}
				if e.rec.UserID != "" && !e.user {
					t.Errorf("%s: %s has user %q in the anonymous heap", step, e.id, e.rec.UserID)
				}
			}
		}
		sh.mu.RUnlock()
	}
}

// A random walk over every write, with eviction, sweeps and a moving clock:
// after each step the counters and the user index (zzCheck), the heaps
// (heapCheck) and every record a Load returned are checked: a heap position
// fix left out would go unseen by the other tests.
func TestEntriesRandomWalk(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(12) {
		var ns atomic.Int64
		ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		clock := func() time.Time { return time.Unix(0, ns.Load()) }
		s := New(WithClock(clock), WithMaxEntries(12), WithMaxBytes(1500), WithMaxRecordSize(400), WithCleanupInterval(time.Duration(math.MaxInt64))) // sweeps only by hand
		r := rand.New(rand.NewPCG(seed, 7))
		ids := make([]string, 20)
		for i := range ids {
			ids[i] = fmt.Sprintf("id%02d", i)
		}
		users := []string{"", "", "ann", "bob"}
		var held []storetest.Held
		ttl := func() time.Time { return clock().Add(time.Duration(1+r.IntN(600)) * time.Second) }
		for step := range 3000 {
			id := ids[r.IntN(len(ids))]
			now := clock()
			op := r.IntN(12)
			name := fmt.Sprintf("seed %d step %d op %d id %s", seed, step, op, id)
			switch op {
			case 0, 1:
				u := users[r.IntN(len(users))]
				s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: ttl(), UserID: u, SetUserID: true, Set: map[string][]byte{"k": make([]byte, r.IntN(100))}})
			case 2, 3:
				c := store.Change{Mode: store.Update, Set: map[string][]byte{"k": make([]byte, r.IntN(500))}}
				if r.IntN(2) == 0 {
					c.SetUserID, c.UserID = true, users[r.IntN(len(users))]
				}
				if r.IntN(2) == 0 {
					c.Expires = ttl()
				}
				s.Commit(ctx, id, c)
			case 4:
				s.Touch(ctx, id, now, ttl())
			case 5:
				s.Move(ctx, id, store.Moved{To: ids[r.IntN(len(ids))]}, ttl(), 0)
			case 6:
				s.Delete(ctx, id)
			case 7:
				s.DeleteUser(ctx, users[2+r.IntN(2)])
			case 8:
				s.UserSessions(ctx, users[2+r.IntN(2)])
			case 9:
				ns.Add(int64(time.Duration(r.IntN(120)) * time.Second))
			case 10:
				s.sweep()
			default:
				if rec, _ := s.Load(ctx, id); rec != nil {
					held = append(held, storetest.Hold(rec))
				}
			}
			zzCheck(t, s, name)
			heapCheck(t, s, name)
			for _, h := range held {
				if h.Changed() {
					t.Fatalf("%s: a record Load returned changed", name)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
		}
		s.Close()
	}
}

// Readers keep what Load returned while writers replace, evict and sweep it
// (race detector on): no held record changes, and the bookkeeping is exact
// once everything returns.
func TestHeldRecordsUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	s := New(WithMaxEntries(10), WithMaxBytes(2000), WithMaxRecordSize(600), WithCleanupInterval(time.Millisecond))
	ids := make([]string, 16)
	for i := range ids {
		ids[i] = fmt.Sprintf("id%02d", i)
	}
	users := []string{"", "ann", "bob"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 3))
			for range 4000 {
				id, now := ids[r.IntN(len(ids))], time.Now()
				ttl := now.Add(time.Duration(1+r.IntN(20)) * time.Millisecond)
				switch r.IntN(7) {
				case 0:
					s.Commit(ctx, id, store.Change{Mode: store.Create, LastSeen: now, Expires: ttl, UserID: users[r.IntN(3)], SetUserID: true})
				case 1, 2:
					s.Commit(ctx, id, store.Change{Mode: store.Update, Expires: ttl, SetUserID: r.IntN(2) == 0, UserID: users[r.IntN(3)], Set: map[string][]byte{"k": make([]byte, r.IntN(300))}})
				case 3:
					s.Touch(ctx, id, now, ttl)
				case 4:
					s.Move(ctx, id, store.Moved{To: ids[r.IntN(len(ids))]}, ttl, 0)
				case 5:
					s.DeleteUser(ctx, users[1+r.IntN(2)])
				default:
					s.UserSessions(ctx, users[1+r.IntN(2)])
				}
			}
		}()
	}
	readers := storetest.HoldingReaders(ctx, s, ids, 2, 64)
	wg.Wait()
	bad := readers()
	s.sweeper.Close() // no sweep during the check
	if bad > 0 {
		t.Errorf("%d reads saw a held record change", bad)
	}
	zzCheck(t, s, "end")
	heapCheck(t, s, "end")
	s.Close()
}

// The same without hooks: real goroutines, a store full of users' sessions,
// anonymous creates each touched at once by a second goroutine. Each create
// that returned nil must leave its session (evict.go: an anonymous write
// evicts no user; the store stays over by it).
func TestEvictionSparesWriteStress(t *testing.T) {
	ctx := context.Background()
	s := New(WithMaxEntries(50))
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	for i := range 50 {
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "ann", SetUserID: true}
		if _, err := s.Commit(ctx, fmt.Sprintf("user-%d", i), c); err != nil {
			t.Fatal(err)
		}
	}
	lost := 0
	for i := range 3000 {
		id := fmt.Sprintf("anon-%d", i)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.Touch(ctx, id, now, now.Add(time.Minute)) != nil {
			}
		}()
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Minute)}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if rec, _ := s.Load(ctx, id); rec == nil {
			lost++
		}
		s.Delete(ctx, id)
	}
	if lost > 0 {
		t.Errorf("%d of 3000 anonymous creates lost their own session to their eviction", lost)
	}
}
