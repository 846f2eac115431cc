package mysqlstore

import (
	"database/sql"
	"fmt"
	"testing"
	"time"
)

func withReapHook(fn func(reapEvent)) Option {
	return func(c *config) { c.onReap = fn }
}

// fill inserts n records with one value each, expiring at expires, straight
// into s's tables.
func fill(t *testing.T, db *sql.DB, s *Store, prefix string, n int, expires time.Time) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		_, err := db.ExecContext(ctxT(t), `INSERT INTO `+s.n.table+` (id, created, last_seen, expires, version) VALUES (?, 0, 0, ?, 1)`, id, expires.UnixNano())
		if err == nil {
			_, err = db.ExecContext(ctxT(t), `INSERT INTO `+s.n.values+` (id, k, v) VALUES (?, 'k', 'v')`, id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(ctxT(t), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Expired rows disappear in bounded batches, their values with them; live
// ones and rows within the grace period stay.
var _ = backendTest("ReaperDeletesExpired", func(t *testing.T, db *sql.DB, _ string) {
	var batches []int
	s := newStore(t, db, WithReapBatch(10), withReapHook(func(ev reapEvent) {
		if ev.kind == reapBatchDone {
			batches = append(batches, ev.deleted)
		}
	}))
	now := time.Now()
	fill(t, db, s, "old", 25, now.Add(-time.Hour))
	fill(t, db, s, "grace", 5, now.Add(-reapGrace/2))
	fill(t, db, s, "live", 5, now.Add(time.Hour))
	n, err := s.reap(ctxT(t))
	if err != nil || n != 25 {
		t.Fatalf("reap: %d, %v; want 25", n, err)
	}
	if fmt.Sprint(batches) != "[10 10 5]" {
		t.Errorf("batches %v, want [10 10 5]", batches)
	}
	if rows, vals := count(t, db, s.n.table), count(t, db, s.n.values); rows != 10 || vals != 10 {
		t.Errorf("%d rows and %d values left, want 10 and 10", rows, vals)
	}
	// The lock was released: another round takes it again.
	batches = nil
	if n, err := s.reap(ctxT(t)); n != 0 || err != nil || len(batches) != 1 {
		t.Errorf("second round: %d, %v, batches %v", n, err, batches)
	}
})

// One reaper at a time per table, across stores (nodes): while one holds
// the lock, another's round does nothing; once it is released, the other
// reaps.
var _ = backendTest("ReaperExclusive", func(t *testing.T, db *sql.DB, dsn string) {
	table := "reap_" + randHex(6)
	hold := make(chan struct{})
	locked := make(chan struct{})
	a := newStore(t, db, WithTable(table), withReapHook(func(ev reapEvent) {
		if ev.kind == reapLocked {
			close(locked)
			<-hold
		}
	}))
	var bEvents []reapKind
	b := newStore(t, openDB(t, dsn), WithTable(table), withReapHook(func(ev reapEvent) { bEvents = append(bEvents, ev.kind) }))
	fill(t, db, a, "old", 5, time.Now().Add(-time.Hour))

	done := make(chan int)
	go func() {
		n, err := a.reap(t.Context())
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	<-locked
	if n, err := b.reap(ctxT(t)); n != 0 || err != nil || len(bEvents) != 1 || bEvents[0] != reapBusy {
		t.Errorf("B's round while A holds the lock: %d, %v, events %v; want busy", n, err, bEvents)
	}
	if rows := count(t, db, a.n.table); rows != 5 {
		t.Errorf("%d rows while A waits, want 5", rows)
	}
	close(hold)
	if n := <-done; n != 5 {
		t.Errorf("A reaped %d, want 5", n)
	}
	fill(t, db, a, "older", 3, time.Now().Add(-time.Hour))
	bEvents = nil
	if n, err := b.reap(ctxT(t)); n != 3 || err != nil {
		t.Errorf("B's round after A's: %d, %v; want 3", n, err)
	}
})

// The reaper runs on its interval, and Close stops it: TestMain's goleak
// check fails the run if a reaper goroutine outlives its store.
var _ = backendTest("CloseStopsReaper", func(t *testing.T, db *sql.DB, _ string) {
	rounds := make(chan struct{}, 100)
	s, err := New(ctxT(t), db, WithTable("close_"+randHex(6)), WithReapInterval(10*time.Millisecond), withReapHook(func(ev reapEvent) {
		if ev.kind == reapLocked {
			select {
			case rounds <- struct{}{}:
			default:
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	<-rounds
	<-rounds
	s.Close() // returns once the reaper goroutine has (TestMain's goleak check)
	if _, err := s.Load(ctxT(t), newID()); err != ErrClosed {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
})
