package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// lateBy makes the store send deadlines d earlier than its contexts': to the
// server, every write arrives d after its caller gave up. (The store checks
// the context before sending, so a really expired context never reaches the
// statements.)
func lateBy(d time.Duration) Option {
	return func(c *config) { c.deadlineShift = d }
}

// A write that reaches the server after its deadline, by the server's clock
// inside the statement or transaction that would apply it, changes nothing
// and reports context.DeadlineExceeded: Create, Update, Touch and Move.
var _ = backendTest("LateWriteRefused", func(t *testing.T, db *sql.DB, _ string) {
	table := "late_" + randHex(6)
	s := newStore(t, db, WithTable(table))
	late := newStore(t, db, WithTable(table), lateBy(time.Hour))
	ctx := ctxT(t)
	now := time.Now()
	id, before := createRecord(t, s, now)

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("late %s: %v, want context.DeadlineExceeded", what, err)
		}
		after, lerr := s.Load(ctx, id)
		if lerr != nil || after == nil || after.Version != before.Version || string(after.Values.Get("k")) != "v" || after.Moved != nil ||
			!after.Expires.Equal(before.Expires) {
			t.Errorf("after a late %s: %+v, %v; want the record unchanged", what, after, lerr)
		}
	}
	_, err := late.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("late")}})
	check("update", err)
	check("touch", late.Touch(ctx, id, now, now.Add(2*time.Hour)))
	check("move", late.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Minute), before.Version))

	fresh := newID()
	_, err = late.Commit(ctx, fresh, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("late create: %v, want context.DeadlineExceeded", err)
	}
	if rec, err := s.Load(ctx, fresh); rec != nil || err != nil {
		t.Errorf("after a late create: %+v, %v; want nothing", rec, err)
	}
})

// A write without a deadline is not checked, and one in time applies: the
// check compares with the right clock, in the right unit.
var _ = backendTest("InTimeWriteApplies", func(t *testing.T, db *sql.DB, _ string) {
	s := newStore(t, db, lateBy(-time.Hour)) // deadlines an hour later than the contexts'
	ctx := ctxT(t)
	id, _ := createRecord(t, s, time.Now())
	if err := s.Touch(ctx, id, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Error(err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	plain := newStore(t, db)
	id, _ = createRecord(t, plain, time.Now())
	if _, err := plain.Commit(short, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("1")}}); err != nil {
		t.Errorf("commit with 2 s to spare: %v", err)
	}
})

// The deadline is checked after the row lock is held, not when the statement
// began: a write that waited for another transaction's lock past its
// deadline (by the server's clock) does not apply when it gets the lock.
var _ = backendTest("LateAfterLockWait", func(t *testing.T, db *sql.DB, _ string) {
	table := "wait_" + randHex(6)
	s := newStore(t, db, WithTable(table))
	// The statements' deadline is 4.7 s before the context's: 300 ms from
	// the call, while the client waits up to 5 s.
	late := newStore(t, db, WithTable(table), lateBy(4700*time.Millisecond))
	for _, write := range []struct {
		name string
		fn   func(ctx context.Context, id string) error
	}{
		{"touch", func(ctx context.Context, id string) error {
			return late.Touch(ctx, id, time.Now(), time.Now().Add(2*time.Hour))
		}},
		{"update", func(ctx context.Context, id string) error {
			_, err := late.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("late")}})
			return err
		}},
	} {
		t.Run(write.name, func(t *testing.T) {
			id, before := createRecord(t, s, time.Now())
			tx, err := db.BeginTx(ctxT(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctxT(t), "SELECT id FROM "+s.n.table+" WHERE id = ? FOR UPDATE", id); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(ctxT(t), 5*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- write.fn(ctx, id) }()
			// Release the lock once the write's deadline has passed by
			// the server's clock (which no hook can move): the write is
			// still waiting for it.
			time.Sleep(600 * time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("%s returned while the row was locked: %v", write.name, err)
			default:
			}
			tx.Rollback()
			if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s that waited for the lock past its deadline: %v, want context.DeadlineExceeded", write.name, err)
			}
			if after, err := s.Load(ctxT(t), id); err != nil || after == nil || after.Version != before.Version {
				t.Errorf("after the late %s: %+v, %v; want version %d", write.name, after, err, before.Version)
			}
		})
	}
})
