package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newStore(t testing.TB, opts ...memstore.Option) *memstore.Store {
	s := memstore.New(opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformanceFakeClock(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC))
	storetest.Run(t, func(t *testing.T) store.Store {
		return newStore(t, memstore.WithClock(clock.Now))
	}, storetest.WithClock(clock.Now, clock.Advance),
		// Each subtest has a store of its own, and they run one at a time.
		storetest.WithDuringUserSessions(func(t *testing.T, s store.Store, during func()) store.Store {
			memstore.SetAfterIDs(s.(*memstore.Store), during)
			return s
		}))
}

func TestConformanceRealTime(t *testing.T) {
	// One store shared by every subtest, as a backend on one server would be,
	// with a per-record limit of its own.
	const limit = 300 << 10
	s := newStore(t, memstore.WithMaxRecordSize(limit))
	storetest.Run(t, func(t *testing.T) store.Store { return s }, storetest.WithMaxRecordSize(limit))
}

var ctx = context.Background()

func id(i int) string { return fmt.Sprintf("%064x", i) }

func create(t *testing.T, s *memstore.Store, id string, expires time.Time, values map[string][]byte) {
	t.Helper()
	c := store.Change{Mode: store.Create, Created: time.Now(), LastSeen: time.Now(), Expires: expires, Set: values}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
}

func TestEvictsByEntries(t *testing.T) {
	const max = 10
	s := newStore(t, memstore.WithMaxEntries(max))
	now := time.Now()
	// Later records expire later: eviction should drop the earliest.
	for i := range 100 {
		create(t, s, id(i), now.Add(time.Hour+time.Duration(i)*time.Minute), nil)
		if n := s.Len(); n > max {
			t.Fatalf("after %d creates Len = %d, want at most %d", i+1, n, max)
		}
		if rec, _ := s.Load(ctx, id(i)); rec == nil {
			t.Fatalf("record %d evicted by its own write", i)
		}
	}
	if n := s.Len(); n != max {
		t.Errorf("Len = %d, want %d", n, max)
	}
	// Eviction is exact: the survivors are the ones expiring last.
	for i := 90; i < 100; i++ {
		if rec, _ := s.Load(ctx, id(i)); rec == nil {
			t.Errorf("record %d (among the latest to expire) was evicted", i)
		}
	}
}

func TestEvictsExpiredFirst(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	// No sweep: the test counts what eviction removes.
	s := newStore(t, memstore.WithMaxEntries(20), memstore.WithClock(clock.Now), memstore.WithCleanupInterval(24*time.Hour))
	for i := range 10 {
		create(t, s, id(i), clock.Now().Add(time.Minute), nil)
	}
	for i := 10; i < 20; i++ {
		create(t, s, id(i), clock.Now().Add(time.Hour), nil)
	}
	clock.Advance(2 * time.Minute) // the first ten expire
	for i := 20; i < 30; i++ {
		create(t, s, id(i), clock.Now().Add(time.Hour), nil)
	}
	for i := 10; i < 30; i++ {
		if rec, _ := s.Load(ctx, id(i)); rec == nil {
			t.Errorf("live record %d evicted while expired ones were there", i)
		}
	}
	if n := s.Len(); n != 20 {
		t.Errorf("Len = %d, want 20", n)
	}
}

func TestEvictsByBytes(t *testing.T) {
	const max = 10_000
	s := newStore(t, memstore.WithMaxBytes(max))
	value := []byte(strings.Repeat("x", 1000))
	now := time.Now()
	for i := range 50 {
		create(t, s, id(i), now.Add(time.Hour+time.Duration(i)*time.Second), map[string][]byte{"v": value})
	}
	// Each record takes 64 (id) + 1 (key) + 1000 bytes: nine fit.
	if n := s.Len(); n != 9 {
		t.Errorf("Len = %d, want 9", n)
	}
	if rec, _ := s.Load(ctx, id(49)); rec == nil {
		t.Error("the last record written was evicted")
	}
	// A record growing by an update makes room too.
	c := store.Change{Mode: store.Update, LastSeen: now, Expires: now.Add(2 * time.Hour), Set: map[string][]byte{"w": value}}
	if _, err := s.Commit(ctx, id(49), c); err != nil {
		t.Fatal(err)
	}
	if n := s.Len(); n != 8 {
		t.Errorf("after growing a record Len = %d, want 8", n)
	}
}

func TestTooLarge(t *testing.T) {
	s := newStore(t, memstore.WithMaxBytes(1000))
	now := time.Now()
	c := store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"v": make([]byte, 1000)}}
	_, err := s.Commit(ctx, id(1), c)
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Commit of an oversized record: %v, want a *store.TooLargeError", err)
	}
	if tl.Size != 64+1+1000 || tl.Limit != 1000 {
		t.Errorf("TooLargeError = %+v, want Size 1065, Limit 1000", tl)
	}
	if s.Len() != 0 {
		t.Errorf("Len = %d after a refused create, want 0", s.Len())
	}
	// A refused update leaves the record, and the other records, alone.
	create(t, s, id(2), now.Add(time.Hour), map[string][]byte{"small": []byte("1")})
	create(t, s, id(3), now.Add(time.Hour), nil)
	c.Mode = store.Update
	if _, err := s.Commit(ctx, id(2), c); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update to an oversized record: %v, want ErrTooLarge", err)
	}
	rec, _ := s.Load(ctx, id(2))
	if rec == nil || string(rec.Values.Get("small")) != "1" || rec.Values.Len() != 1 || rec.Version != 1 {
		t.Errorf("record after a refused update: %+v", rec)
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d, want 2", s.Len())
	}
}

// A call of the store after the cleanup interval starts a sweep, which
// removes expired records and nothing else.
func TestSweepRemovesExpired(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, memstore.WithClock(clock.Now), memstore.WithCleanupInterval(time.Minute))
	c := store.Change{Mode: store.Create, LastSeen: clock.Now(), Expires: clock.Now().Add(time.Minute), UserID: "alice"}
	for i := range 100 {
		if _, err := s.Commit(ctx, id(i), c); err != nil {
			t.Fatal(err)
		}
	}
	c.Expires = clock.Now().Add(time.Hour)
	if _, err := s.Commit(ctx, id(1000), c); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if n := s.Len(); n != 101 {
		t.Fatalf("a sweep ran with no call of the store: Len = %d, want 101", n)
	}
	if _, err := s.Load(ctx, id(1000)); err != nil { // due: starts the sweep
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the sweep left %d records, want 1", s.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	infos, err := s.UserSessions(ctx, "alice")
	if err != nil || len(infos) != 1 || infos[0].ID != id(1000) {
		t.Errorf("UserSessions after the sweep = %v, %v; want the live session", infos, err)
	}
}

// Between sweeps the store runs no goroutine (and so keeps no timer, which
// would make every scheduling decision of the runtime read the clock).
func TestNoGoroutineBetweenSweeps(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := memstore.New()
	defer s.Close()
	create(t, s, id(1), time.Now().Add(time.Hour), nil)
	if _, err := s.Load(ctx, id(1)); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}

func TestClose(t *testing.T) {
	s := memstore.New(memstore.WithCleanupInterval(time.Millisecond))
	create(t, s, id(1), time.Now().Add(time.Hour), nil)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// A sweep Close waited for is gone right away.
	goleak.VerifyNone(t)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	now := time.Now()
	calls := map[string]error{
		"Ping":   s.Ping(ctx),
		"Touch":  s.Touch(ctx, id(1), now, now),
		"Move":   s.Move(ctx, id(1), store.Moved{}, now, 1),
		"Delete": s.Delete(ctx, id(1)),
	}
	_, calls["Load"] = s.Load(ctx, id(1))
	_, calls["Commit"] = s.Commit(ctx, id(2), store.Change{Mode: store.Create, Expires: now.Add(time.Hour)})
	_, calls["UserSessions"] = s.UserSessions(ctx, "u")
	_, calls["DeleteUser"] = s.DeleteUser(ctx, "u")
	_, calls["Version"] = s.Version(ctx, id(1))
	for name, err := range calls {
		if !errors.Is(err, memstore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if s.Len() != 0 {
		t.Errorf("Len after Close = %d, want 0", s.Len())
	}
}

func TestCloseRacingWrites(t *testing.T) {
	s := memstore.New()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			_, _ = s.Commit(ctx, id(i), store.Change{Mode: store.Create, Expires: time.Now().Add(time.Hour)})
		}
	}()
	time.Sleep(5 * time.Millisecond)
	s.Close()
	time.Sleep(5 * time.Millisecond)
	stop.Store(true)
	<-done
	if n := s.Len(); n != 0 {
		t.Errorf("Len = %d after Close, want 0: writes refilled a closed store", n)
	}
}

func TestDefaultsForNonPositiveOptions(t *testing.T) {
	s := newStore(t, memstore.WithMaxEntries(0), memstore.WithMaxBytes(-1), memstore.WithMaxRecordSize(0), memstore.WithCleanupInterval(0), memstore.WithClock(nil))
	create(t, s, id(1), time.Now().Add(time.Hour), map[string][]byte{"v": make([]byte, memstore.DefaultMaxRecordSize-1)})
	create(t, s, id(2), time.Now().Add(time.Hour), nil)
	if s.Len() != 2 {
		t.Errorf("Len = %d, want 2: a non-positive bound must select the default, not zero", s.Len())
	}
}

func BenchmarkLoad(b *testing.B) {
	s := newStore(b)
	const n = 10_000
	for i := range n {
		c := store.Change{Mode: store.Create, Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"cart": make([]byte, 200)}}
		if _, err := s.Commit(ctx, id(i), c); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = id(i)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if rec, err := s.Load(ctx, ids[i%n]); rec == nil || err != nil {
				b.Fatal(rec, err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if rec, err := s.Load(ctx, ids[i%n]); rec == nil || err != nil {
					b.Fatal(rec, err)
				}
				i++
			}
		})
	})
}

func BenchmarkCommit(b *testing.B) {
	const n = 10_000
	setup := func(b *testing.B) (*memstore.Store, []string) {
		s := newStore(b)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = id(i)
			c := store.Change{Mode: store.Create, Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}}
			if _, err := s.Commit(ctx, ids[i], c); err != nil {
				b.Fatal(err)
			}
		}
		return s, ids
	}
	change := func() store.Change {
		return store.Change{Mode: store.Update, LastSeen: time.Now(), Expires: time.Now().Add(time.Hour), Set: map[string][]byte{"cart": []byte("items")}}
	}
	b.Run("serial", func(b *testing.B) {
		s, ids := setup(b)
		c := change()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Commit(ctx, ids[i%n], c); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		s, ids := setup(b)
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			c := change()
			i := int(next.Add(1)) * 7919
			for pb.Next() {
				if _, err := s.Commit(ctx, ids[i%n], c); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
	b.Run("parallel-one-session", func(b *testing.B) {
		s, ids := setup(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			c := change()
			for pb.Next() {
				if _, err := s.Commit(ctx, ids[0], c); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
