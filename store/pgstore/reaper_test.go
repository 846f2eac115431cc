package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func withReapHook(fn func(reapEvent)) Option {
	return func(c *config) { c.onReap = fn }
}

// fill inserts n rows expiring at expires (SQL interval from now) straight
// into s's table.
func fill(t *testing.T, pool *pgxpool.Pool, s *Store, prefix string, n int, expires string) {
	t.Helper()
	_, err := pool.Exec(ctxT(t), `INSERT INTO `+s.n.table+` (id, vals, created, last_seen, expires, version)
		SELECT $1 || i, '{}', now(), now(), now() + $2::interval, 1 FROM generate_series(1, $3) i`, prefix, expires, n)
	if err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, s *Store, where string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM `+s.n.table+` WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// events returns a hook that forwards reaper events to a channel.
func events() (chan reapEvent, Option) {
	ch := make(chan reapEvent, 1024)
	return ch, withReapHook(func(ev reapEvent) {
		select {
		case ch <- ev:
		default:
		}
	})
}

func next(t *testing.T, ch chan reapEvent) reapEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no reaper event within 10s")
		return reapEvent{}
	}
}

// Expired rows disappear in bounded batches; live ones and rows within the
// grace period stay; the lock is released after the round.
var _ = backendTest("ReaperDeletesExpired", func(t *testing.T, pool *pgxpool.Pool) {
	table := "reap_" + randHex(4)
	filler := newStore(t, pool, WithTable(table)) // default interval: it does not reap here
	fill(t, pool, filler, "old-", 2500, "-2 hours")
	fill(t, pool, filler, "recent-", 10, "-10 seconds")
	fill(t, pool, filler, "live-", 10, "1 hour")

	ch, hook := events()
	s := newStore(t, pool, WithTable(table), WithReapInterval(10*time.Millisecond), WithReapBatch(1000), hook)
	var batches []int
	for total := 0; total < 2500; {
		switch ev := next(t, ch); ev.kind {
		case reapBatchDone:
			batches = append(batches, ev.deleted)
			total += ev.deleted
		case reapFailed:
			t.Fatalf("reap failed: %v", ev.err)
		}
	}
	for ev := next(t, ch); ev.kind != reapUnlocked; ev = next(t, ch) {
	}
	if len(batches) < 3 {
		t.Errorf("batches %v: want at least three for 2500 rows in batches of 1000", batches)
	}
	for _, b := range batches {
		if b > 1000 {
			t.Errorf("a batch deleted %d rows, more than the batch size", b)
		}
	}
	if n := count(t, pool, s, "true"); n != 20 {
		t.Errorf("%d rows left, want the 20 live or recently expired ones", n)
	}
	if n := count(t, pool, s, "id LIKE 'old-%'"); n != 0 {
		t.Errorf("%d long-expired rows left", n)
	}
	// The lock went back with the round: another session can take it.
	var got bool
	conn, err := pool.Acquire(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for range 100 { // the store's next round may hold it for an instant
		if err := conn.QueryRow(ctxT(t), "SELECT pg_try_advisory_lock($1)", s.reapKey).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !got {
		t.Fatal("the reaper's lock is never free between rounds")
	}
	conn.Exec(ctxT(t), "SELECT pg_advisory_unlock($1)", s.reapKey)
})

// While another session holds the table's reaper lock, no store reaps: each
// round finds the lock busy and deletes nothing.
var _ = backendTest("ReaperLockHeldElsewhere", func(t *testing.T, pool *pgxpool.Pool) {
	table := "reapheld_" + randHex(4)
	filler := newStore(t, pool, WithTable(table))
	fill(t, pool, filler, "old-", 50, "-2 hours")

	conn, err := pool.Acquire(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctxT(t), "SELECT pg_try_advisory_lock($1)", filler.reapKey).Scan(&got); err != nil || !got {
		t.Fatalf("taking the reaper lock: %v, %v", got, err)
	}

	chA, hookA := events()
	chB, hookB := events()
	newStore(t, pool, WithTable(table), WithReapInterval(5*time.Millisecond), hookA)
	newStore(t, pool, WithTable(table), WithReapInterval(5*time.Millisecond), hookB)
	for _, ch := range []chan reapEvent{chA, chB} {
		for range 3 {
			if ev := next(t, ch); ev.kind != reapBusy {
				t.Fatalf("reaper event %v while another session holds the lock, want busy", ev.kind)
			}
		}
	}
	if n := count(t, pool, filler, "true"); n != 50 {
		t.Fatalf("%d of 50 expired rows left while the lock was held elsewhere", n)
	}

	// Released, one of them reaps.
	if _, err := conn.Exec(ctxT(t), "SELECT pg_advisory_unlock($1)", filler.reapKey); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(t, pool, filler, "true") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("expired rows not reaped after the lock was released")
		}
		time.Sleep(10 * time.Millisecond)
	}
})

// Two stores on one table never reap at the same time: while one is inside
// its round (held there by the hook), the other's rounds find the lock busy;
// and no store takes the lock while another's batch is still open.
var _ = backendTest("ReaperOneAtATime", func(t *testing.T, pool *pgxpool.Pool) {
	table := "reapone_" + randHex(4)
	filler := newStore(t, pool, WithTable(table))
	fill(t, pool, filler, "old-", 50, "-2 hours")

	var (
		mu       sync.Mutex
		held     bool   // a round was held inside the lock
		inside   string // the store held there, until it is released
		overlaps int
		holder   = make(chan string, 1)
		release  = make(chan struct{})
		busy     = make(chan string, 1024)
		once     sync.Once
	)
	defer once.Do(func() { close(release) })
	hook := func(name string) Option {
		return withReapHook(func(ev reapEvent) {
			switch ev.kind {
			case reapLocked:
				// A batch that deleted holds its row-exclusive lock on the
				// table until its transaction ends, so one held by another
				// backend now is a batch still open while this one holds
				// the reaper lock. (Hooks cannot tell: the lock goes with
				// the commit, after any event the batch reports.)
				open := 0
				if err := pool.QueryRow(context.Background(), `SELECT count(DISTINCT pid) FROM pg_locks
					WHERE locktype = 'relation' AND relation = $1::regclass AND mode = 'RowExclusiveLock'`,
					filler.n.table).Scan(&open); err != nil {
					t.Errorf("pg_locks: %v", err)
				}
				mu.Lock()
				if (inside != "" && inside != name) || open > 0 {
					overlaps++
				}
				hold := !held
				if hold {
					held, inside = true, name
				}
				mu.Unlock()
				if hold { // the first round to get the lock stays inside it
					holder <- name
					<-release
				}
			case reapBusy:
				select {
				case busy <- name:
				default:
				}
			}
		})
	}
	newStore(t, pool, WithTable(table), WithReapInterval(5*time.Millisecond), hook("A"))
	newStore(t, pool, WithTable(table), WithReapInterval(5*time.Millisecond), hook("B"))

	var first string
	select {
	case first = <-holder:
	case <-time.After(10 * time.Second):
		t.Fatal("no store took the reaper lock")
	}
	for seen := 0; seen < 3; {
		select {
		case name := <-busy:
			if name == first {
				t.Fatalf("store %s, inside its round, reported a busy round", name)
			}
			seen++
		case <-time.After(10 * time.Second):
			t.Fatalf("the other store reported no busy round while %s held the lock", first)
		}
	}
	mu.Lock()
	if overlaps > 0 {
		t.Errorf("a store took the lock while %s held it (overlaps %d)", first, overlaps)
	}
	inside = "" // from here on, only pg_locks can tell
	mu.Unlock()
	once.Do(func() { close(release) })

	deadline := time.Now().Add(10 * time.Second)
	for count(t, pool, filler, "true") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("expired rows not reaped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlaps > 0 {
		t.Errorf("%d rounds overlapped", overlaps)
	}
})

// Close stops the reaper and waits for it, even mid-round.
var _ = backendTest("ReaperStopsOnClose", func(t *testing.T, pool *pgxpool.Pool) {
	entered := make(chan struct{})
	var once sync.Once
	s, err := New(context.Background(), pool, WithTable("reapclose_"+randHex(4)), WithReapInterval(time.Millisecond),
		withReapHook(func(ev reapEvent) {
			if ev.kind == reapLocked {
				once.Do(func() { close(entered) })
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if _, err := s.Load(context.Background(), newID()); err != ErrClosed {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
})
