package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// lateWrites are the writes that must not apply after their deadline, each
// on a record that setup makes ready for it.
var lateWrites = []struct {
	name  string
	write func(ctx context.Context, s *Store, id string, rec *store.Record) error
}{
	{"Update", func(ctx context.Context, s *Store, id string, _ *store.Record) error {
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"late": []byte("x")}})
		return err
	}},
	{"Touch", func(ctx context.Context, s *Store, id string, rec *store.Record) error {
		return s.Touch(ctx, id, rec.LastSeen.Add(time.Minute), rec.Expires.Add(time.Hour))
	}},
	{"Move", func(ctx context.Context, s *Store, id string, rec *store.Record) error {
		return s.Move(ctx, id, store.Moved{To: newID(), Sealed: []byte("s")}, rec.Expires, rec.Version)
	}},
}

// createRecord creates a record under a fresh ID and returns it as loaded.
func createRecord(t *testing.T, s *Store, now time.Time) (string, *store.Record) {
	t.Helper()
	id := newID()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		UserID: "u", Set: map[string][]byte{"k": []byte("v")}}
	if _, err := s.Commit(ctxT(t), id, c); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctxT(t), id)
	if err != nil || rec == nil {
		t.Fatalf("Load: %v, %v", rec, err)
	}
	return id, rec
}

// A write that waits for its row lock past its deadline is answered with a
// deadline error, and must not apply when the lock is released: pgx gives up
// by closing its connection, but the server's backend, blocked on the lock,
// does not notice and runs the statement to its end. The locker only locks
// (SELECT ... FOR UPDATE, then ROLLBACK), so Postgres does not re-check the
// waiting UPDATE's WHERE clause: the deadline check must run after the lock
// is taken. A Create that replaces an expired row waits the same way.
//
// pgx, when it gives up, also sends a cancel request on a new connection,
// which usually ends the waiting statement; over a partitioned network or
// an overloaded server it does not arrive, and the test refuses that
// connection so that the statement surely runs on.
var _ = backendTest("LateWriteAfterLockWait", func(t *testing.T, shared *pgxpool.Pool) {
	var noDial atomic.Bool
	cfg := shared.Config()
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if noDial.Load() {
			return nil, errors.New("test: dial refused")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	clock := storetest.NewClock(time.Now())
	s := newStore(t, pool, WithClock(clock.Now))
	writes := append(lateWrites[:len(lateWrites):len(lateWrites)], struct {
		name  string
		write func(ctx context.Context, s *Store, id string, rec *store.Record) error
	}{"CreateOverExpired", func(ctx context.Context, s *Store, id string, rec *store.Record) error {
		now := clock.Now()
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"late": []byte("x")}})
		return err
	}})
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			id, rec := createRecord(t, s, clock.Now())
			if w.name == "CreateOverExpired" {
				clock.Advance(2 * time.Hour)
			}
			before := rawRow(t, shared, s, id)

			locker, err := shared.Begin(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			defer locker.Rollback(context.Background())
			if _, err := locker.Exec(ctxT(t), "SELECT 1 FROM "+s.Table()+" WHERE id = $1 FOR UPDATE", id); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			noDial.Store(true) // pgx's cancel request, sent on a new connection, is lost
			defer noDial.Store(false)
			err = w.write(ctx, s, id, rec)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s behind a held lock: %v, want an error matching context.DeadlineExceeded", w.name, err)
			}
			waiter := lockWaiter(t, shared, s)
			if err := locker.Rollback(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			waitGone(t, shared, waiter)
			if after := rawRow(t, shared, s, id); after != before {
				t.Errorf("%s answered %v was applied after the lock was released:\n before %s\n after  %s", w.name, err, before, after)
			}
		})
	}
})

// rawRow returns the row as text, expired or not, to compare before and
// after.
func rawRow(t *testing.T, pool *pgxpool.Pool, s *Store, id string) string {
	t.Helper()
	var row string
	err := pool.QueryRow(ctxT(t), "SELECT coalesce((SELECT t::text FROM "+s.Table()+" AS t WHERE id = $1), '')", id).Scan(&row)
	if err != nil {
		t.Fatal(err)
	}
	return row // "" if there is none
}

// lockWaiter returns the backend waiting for a lock on s's table.
func lockWaiter(t *testing.T, pool *pgxpool.Pool, s *Store) int32 {
	t.Helper()
	var pid int32
	err := pool.QueryRow(ctxT(t), `SELECT pid FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND position($1 in query) > 0`, s.Table()).Scan(&pid)
	if err != nil {
		t.Fatalf("no backend waits for the lock (the write was not left running): %v", err)
	}
	return pid
}

// waitGone waits until backend pid has ended (its client is gone: it ends
// once its statement is done).
func waitGone(t *testing.T, pool *pgxpool.Pool, pid int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for lastQuery(t, pool, pid) != "" {
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still running", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLateWriteAfterStall: the link between the store and Postgres stalls
// (no FIN, no RST) while a write is on its way; the store answers it with a
// deadline error; then the link thaws and the server receives the write.
// It must not apply. The check is in the statement, by the database's
// clock.
func TestLateWriteAfterStall(t *testing.T) {
	createID := newID()
	pg := testserver.Postgres(t)
	direct := newPool(t, pg)
	px := testserver.NewProxy(t, pg.Addr())
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", px.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "stalled"
	cfg.MaxConns = 1
	// pgx, giving up, sends a cancel request on a new connection; over a
	// real partition it may arrive after the write ran, and the test
	// refuses it so that it never helps.
	var noDial atomic.Bool
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if noDial.Load() {
			return nil, errors.New("test: dial refused")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	stalled, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	table := "stall_" + randHex(4)
	s := newStore(t, stalled, WithTable(table))
	check := newStore(t, direct, WithTable(table))

	create := struct {
		name  string
		write func(ctx context.Context, s *Store, id string, rec *store.Record) error
	}{"Create", func(ctx context.Context, s *Store, _ string, rec *store.Record) error {
		// A fresh ID each time: the setup's record is not the target.
		now := time.Now()
		_, err := s.Commit(ctx, createID, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
		createID = newID()
		return err
	}}
	for _, w := range append(lateWrites[:len(lateWrites):len(lateWrites)], create) {
		t.Run(w.name, func(t *testing.T) {
			// pgx prepares a statement on its first use on a connection,
			// which would stall before the write is sent: a first write
			// prepares it.
			warm, warmRec := createRecord(t, s, time.Now())
			if err := w.write(ctxT(t), s, warm, warmRec); err != nil {
				t.Fatal(err)
			}
			id, rec := createRecord(t, s, time.Now())
			if w.name == "Create" {
				id = createID
			}
			before := rawRow(t, direct, check, id)
			px.Freeze()
			noDial.Store(true)
			defer noDial.Store(false)
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			err := w.write(ctx, s, id, rec)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s over a stalled link: %v, want an error matching context.DeadlineExceeded", w.name, err)
			}
			px.Thaw()
			// The write reaches the server now. Its backend ends when it
			// is done (its client has gone); the others end now.
			stalled.Reset()
			waitNoBackends(t, direct, "stalled")
			if after := rawRow(t, direct, check, id); after != before {
				t.Errorf("%s answered %v was applied after the link thawed:\n before %s\n after  %s", w.name, err, before, after)
			}
		})
	}
}

// waitNoBackends waits until no backend of application app is left.
func waitNoBackends(t *testing.T, pool *pgxpool.Pool, app string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		err := pool.QueryRow(ctxT(t), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d backends of %s still there", n, app)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// skewedCtx has a deadline the database's clock has passed while, by the
// application's, it is not done yet: a server clock running ahead, or a
// write still in flight at its deadline.
type skewedCtx struct {
	context.Context
	deadline time.Time
}

func (c skewedCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// A write the database refuses as late (its clock past the deadline) is
// reported as an error matching context.DeadlineExceeded, not as a missing
// record or a conflict, and changes nothing.
var _ = backendTest("LateWriteRefusedByServerClock", func(t *testing.T, pool *pgxpool.Pool) {
	s := newStore(t, pool)
	writes := append(lateWrites[:len(lateWrites):len(lateWrites)], struct {
		name  string
		write func(ctx context.Context, s *Store, id string, rec *store.Record) error
	}{"Create", func(ctx context.Context, s *Store, _ string, rec *store.Record) error {
		_, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: rec.Created, LastSeen: rec.LastSeen, Expires: rec.Expires})
		return err
	}})
	for _, w := range writes {
		id, rec := createRecord(t, s, time.Now())
		before := rawRow(t, pool, s, id)
		ctx := skewedCtx{Context: t.Context(), deadline: time.Now().Add(-time.Second)}
		err := w.write(ctx, s, id, rec)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline by the server's clock: %v, want an error matching context.DeadlineExceeded", w.name, err)
		}
		if after := rawRow(t, pool, s, id); after != before {
			t.Errorf("%s refused as late changed the record:\n before %s\n after  %s", w.name, before, after)
		}
	}
	var n int
	if err := pool.QueryRow(ctxT(t), "SELECT count(*) FROM "+s.Table()).Scan(&n); err != nil || n != len(writes) {
		t.Errorf("%d rows, %v; want %d (the late Create inserted nothing)", n, err, len(writes))
	}
})
