package pgstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// notifications runs s.Notify in a goroutine and returns its events, and a
// function that cancels it and returns what Notify returned.
func notifications(t *testing.T, s *Store) (<-chan store.Event, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan store.Event, 1024)
	returned := make(chan error, 1)
	go func() {
		returned <- s.Notify(ctx, func(ev store.Event) {
			select {
			case ch <- ev:
			default:
				t.Error("event channel full")
			}
		})
	}()
	stopped := false
	var result error
	stop := func() error {
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-returned:
		case <-time.After(5 * time.Second):
			result = errors.New("Notify did not return within 5s of its context's cancellation")
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return ch, stop
}

func wantEvent(t *testing.T, ch <-chan store.Event, what string, match func(store.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-ch:
			if match(ev) {
				return
			}
			if ev.Lost || ev.Reset {
				t.Fatalf("waiting for %s: unexpected %+v", what, ev)
			}
		case <-deadline:
			t.Fatalf("no %s within 10s", what)
		}
	}
}

func isReset(ev store.Event) bool { return ev.Reset && !ev.Lost && ev.ID == "" }
func isLost(ev store.Event) bool  { return ev.Lost && !ev.Reset && ev.ID == "" }
func isID(id string) func(store.Event) bool {
	return func(ev store.Event) bool { return ev.ID == id && !ev.Lost && !ev.Reset }
}

func create(t *testing.T, s *Store, id, user string) {
	t.Helper()
	now := time.Now()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: user,
		Set: map[string][]byte{"k": []byte("v")}}
	if _, err := s.Commit(ctxT(t), id, c); err != nil {
		t.Fatalf("Create: %v", err)
	}
}

// listenerPID finds the backend listening for s: the one whose last query
// was its LISTEN.
func listenerPID(t *testing.T, pool *pgxpool.Pool, s *Store) int32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pid int32
		err := pool.QueryRow(ctxT(t), `SELECT pid FROM pg_stat_activity WHERE query LIKE $1`, "LISTEN "+s.n.listen+"; LISTEN %").Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backend listening on %s: %v", s.n.listen, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastQuery returns the last query of backend pid, "" if it is gone.
func lastQuery(t *testing.T, pool *pgxpool.Pool, pid int32) string {
	t.Helper()
	var q string
	if err := pool.QueryRow(ctxT(t), `SELECT coalesce((SELECT query FROM pg_stat_activity WHERE pid = $1), '')`, pid).Scan(&q); err != nil {
		t.Fatal(err)
	}
	return q
}

// The listener: Reset first; an event for each write of another store
// instance; its backend terminated, Lost then Reset and events again, without
// a new Notify call; cancelled, it returns and leaves no goroutine.
var _ = backendTest("NotifierReconnects", func(t *testing.T, shared *pgxpool.Pool) {
	ignore := goleak.IgnoreCurrent()
	table, channel := "notify_"+randHex(4), "ch_"+randHex(4)
	pool, err := pgxpool.New(ctxT(t), shared.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	listening := newStore(t, pool, WithTable(table), WithChannel(channel))
	writer := newStore(t, shared, WithTable(table), WithChannel(channel))

	ch, stop := notifications(t, listening)
	wantEvent(t, ch, "the first Reset", isReset)
	id := newID()
	create(t, writer, id, "u")
	wantEvent(t, ch, "the event of a Create by another store", isID(id))

	pid := listenerPID(t, shared, listening)
	var ok bool
	if err := shared.QueryRow(ctxT(t), "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	wantEvent(t, ch, "Lost after the backend was terminated", isLost)
	wantEvent(t, ch, "Reset after reconnecting", isReset)
	if err := writer.Delete(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, ch, "the event of a Delete after reconnecting", isID(id))

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Notify returned %v after cancellation, want context.Canceled", err)
	}
	listening.Close()
	writer.Close()
	pool.Close()
	goleak.VerifyNone(t, ignore)
})

// A quiet listener's heartbeats come back: over many intervals it reports
// no Lost, keeps its connection, and still delivers writes.
var _ = backendTest("NotifierHeartbeatQuiet", func(t *testing.T, pool *pgxpool.Pool) {
	table, channel := "alive_"+randHex(4), "ch_"+randHex(4)
	beats := make(chan struct{}, 100)
	s := newStore(t, pool, WithTable(table), WithChannel(channel), WithHeartbeat(250*time.Millisecond), heartbeats(beats))
	ch, _ := notifications(t, s)
	wantEvent(t, ch, "the first Reset", isReset)
	pid := listenerPID(t, pool, s)
	wantHeartbeats(t, beats, 4)
	select {
	case ev := <-ch:
		t.Fatalf("quiet listener reported %+v", ev)
	default:
	}
	if lastQuery(t, pool, pid) == "" {
		t.Fatal("the listener's backend is gone: it reconnected")
	}
	id := newID()
	create(t, s, id, "")
	wantEvent(t, ch, "an event after the heartbeats", isID(id))
})

// Close ends running Notify calls, with ErrClosed.
var _ = backendTest("NotifierClose", func(t *testing.T, pool *pgxpool.Pool) {
	s, err := New(ctxT(t), pool, WithTable("nclose_"+randHex(4)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	reset := make(chan struct{}, 1)
	go func() {
		done <- s.Notify(context.Background(), func(ev store.Event) {
			if ev.Reset {
				reset <- struct{}{}
			}
		})
	}()
	<-reset
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Notify returned %v after Close, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Notify did not return after Close")
	}
	if err := s.Notify(context.Background(), func(store.Event) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Notify on a closed store: %v", err)
	}
})

// With WithNotify(false) writes send nothing and Notify says it cannot. The
// absence is shown by order: notifications arrive in commit order, so if the
// silent store's write had notified, its ID would come before the next one.
var _ = backendTest("NotifyOff", func(t *testing.T, pool *pgxpool.Pool) {
	table, channel := "quiet_"+randHex(4), "ch_"+randHex(4)
	quiet := newStore(t, pool, WithTable(table), WithChannel(channel), WithNotify(false))
	loud := newStore(t, pool, WithTable(table), WithChannel(channel))
	if err := quiet.Notify(ctxT(t), func(store.Event) { t.Error("Notify called fn") }); !errors.Is(err, store.ErrUnsupported) {
		t.Errorf("Notify with notifications off: %v, want store.ErrUnsupported", err)
	}
	ch, _ := notifications(t, loud)
	wantEvent(t, ch, "the first Reset", isReset)

	id, marker := newID(), newID()
	create(t, quiet, id, "u")
	now := time.Now()
	c := store.Change{Mode: store.Update, Set: map[string][]byte{"b": nil}}
	if _, err := quiet.Commit(ctxT(t), id, c); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Touch(ctxT(t), id, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	v, err := quiet.Version(ctxT(t), id) // versions step by random amounts
	if err != nil {
		t.Fatal(err)
	}
	if err := quiet.Move(ctxT(t), id, store.Moved{To: newID()}, now.Add(time.Hour), v); err != nil {
		t.Fatal(err)
	}
	if err := quiet.Delete(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	create(t, quiet, newID(), "u")
	if _, err := quiet.DeleteUser(ctxT(t), "u"); err != nil {
		t.Fatal(err)
	}
	create(t, loud, marker, "")
	select {
	case ev := <-ch:
		if ev.ID != marker {
			t.Errorf("first event after the silent writes: %+v, want the marker %.8s…", ev, marker)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event for the marker")
	}
})

// TestNotifierStalled: the listener's connection stalls (no FIN, no RST)
// while the database and the pool's other connections work. Its
// heartbeats, sent through the pool, no longer come back, and Notify must
// report Lost within twice the heartbeat interval (the documented bound),
// then listen again once the link thaws. And a stall of every connection
// (the heartbeat cannot even be sent) is reported within the same bound.
func TestNotifierStalled(t *testing.T) {
	// Long enough that a loaded 2-core machine does not miss two beats
	// before the stall (250 ms did under the whole suite), short enough
	// that the bound is still checked in a second or two.
	const hb = 500 * time.Millisecond
	pg := testserver.Postgres(t)
	direct := newPool(t, pg)
	for _, all := range []bool{false, true} {
		name := map[bool]string{false: "ListenerOnly", true: "EveryConnection"}[all]
		t.Run(name, func(t *testing.T) {
			px := testserver.NewProxy(t, pg.Addr())
			pool, err := pgxpool.New(t.Context(), fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", px.Addr()))
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			table, channel := "stallnotify_"+randHex(4), "ch_"+randHex(4)
			beats := make(chan struct{}, 100)
			s := newStore(t, pool, WithTable(table), WithChannel(channel), WithHeartbeat(hb), heartbeats(beats))
			writer := newStore(t, direct, WithTable(table), WithChannel(channel))
			ch, _ := notifications(t, s)
			wantEvent(t, ch, "the first Reset", isReset)
			wantHeartbeats(t, beats, 2)
			settled(t, ch, writer)

			if all {
				px.Freeze()
			} else {
				pool.Reset() // the pool's own connections closed: only the listener's is open
				px.FreezeOpen()
			}
			stalled := time.Now()
			wantEvent(t, ch, "Lost after the stall", isLost)
			took := time.Since(stalled)
			t.Logf("Lost %v after the stall (heartbeat %v)", took, hb)
			if bound := 2*hb + 250*time.Millisecond; took > bound {
				t.Errorf("Lost %v after the stall, want at most 2 heartbeat intervals (%v)", took, bound)
			}
			px.Thaw()
			wantEvent(t, ch, "Reset after the thaw", isReset)
			id := newID()
			create(t, writer, id, "")
			wantEvent(t, ch, "an event after the thaw", isID(id))
		})
	}
}

// heartbeats makes the listener report each heartbeat it hears back on ch.
func heartbeats(ch chan<- struct{}) Option {
	return func(c *config) {
		c.onHeartbeat = func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// settled waits until the listener hears a write: a loaded machine may
// delay a heartbeat enough for the notifier to report Lost (and listen
// again) before the test starts its stall; that is the notifier doing its
// job, not the stall's effect.
func settled(t *testing.T, ch <-chan store.Event, writer *Store) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		id := newID()
		create(t, writer, id, "")
	wait:
		for {
			select {
			case ev := <-ch:
				if isID(id)(ev) {
					return
				}
				if ev.Lost || ev.Reset {
					break wait // events may have been missed: write again
				}
			case <-deadline:
				t.Fatal("no event heard before the stall within 20s")
			}
		}
	}
}

func wantHeartbeats(t *testing.T, ch <-chan struct{}, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("%d of %d heartbeats heard back within 10s", i, n)
		}
	}
}
