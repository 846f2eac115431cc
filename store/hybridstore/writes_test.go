package hybridstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
)

// wantSame checks that got is exactly want: what a node serves from memory
// after a write must be what the remote returns, to the nanosecond.
func wantSame(t *testing.T, what string, got, want *store.Record) {
	t.Helper()
	if got == nil || want == nil {
		if got != want {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
		return
	}
	same := got.Version == want.Version && got.UserID == want.UserID && got.Values.Len() == want.Values.Len() &&
		got.Created.Equal(want.Created) && got.LastSeen.Equal(want.LastSeen) && got.Expires.Equal(want.Expires) &&
		(got.Moved == nil) == (want.Moved == nil) && maps.Equal(got.Attrs, want.Attrs)
	for k, v := range want.Values.All() {
		if g, ok := got.Values.Lookup(k); !ok || !bytes.Equal(g, v) {
			same = false
		}
	}
	if !same {
		t.Errorf("%s differs from the remote's record:\n got  %+v\n want %+v", what, *got, *want)
	}
}

// A write through a node updates its entry in place when it can be made
// exactly the remote's record, so the node keeps serving the session from
// memory — including after the notification of its own write.
func TestWriteThroughKeepsEntry(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			h, r := e.node(t, mode)
			id := e.warm(t, h, "a", "1", "gone", "x")
			loads := r.loads.Load()

			c := store.Change{Mode: store.Update, Set: vals("b", "2"), Delete: []string{"gone"},
				SetUserID: true, UserID: "alice", LastSeen: e.clock.Now().Add(time.Second + 7), Expires: e.clock.Now().Add(2*time.Hour + 9)}
			res, err := h.Commit(context.Background(), id, c)
			if err != nil {
				t.Fatal(err)
			}
			e.bus.settle(t) // our own notification has come and gone
			got := load(t, h, id)
			if n := r.loads.Load() - loads; n != 0 {
				t.Errorf("a read after a write through the node made %d remote loads, want 0", n)
			}
			if got.Version != res.Version {
				t.Errorf("local version %d, commit returned %d", got.Version, res.Version)
			}
			want, _ := e.mem.Load(context.Background(), id)
			wantSame(t, "local record after Commit", got, want)

			// A create through the node is served from memory too.
			id2 := newID()
			create(t, h, id2, "bob", e.clock.Now(), "c", "3")
			e.bus.settle(t)
			got = load(t, h, id2)
			want, _ = e.mem.Load(context.Background(), id2)
			wantSame(t, "local record after Create", got, want)
			if n := r.loads.Load() - loads; n != 0 {
				t.Errorf("a read after a create through the node made %d remote loads, want 0", n)
			}
		})
	}
}

// A remote that keeps times to the millisecond (Redis does): the local record
// after a write has the times the remote has, not the caller's nanoseconds.
func TestWriteThroughMatchesRemotePrecision(t *testing.T) {
	e := newEnv(t)
	ms := &msRemote{Store: e.mem}
	h := newHybrid(t, plainRemote{&remote{inner: ms}}, hybridstore.WithClock(e.clock.Now))
	id := newID()
	create(t, h, id, "", e.clock.Now().Add(123456789), "a", "1")
	load(t, h, id) // learns milliseconds
	c := store.Change{Mode: store.Update, Set: vals("b", "2"), LastSeen: e.clock.Now().Add(987654321), Expires: e.clock.Now().Add(time.Hour + 555555)}
	if _, err := h.Commit(context.Background(), id, c); err != nil {
		t.Fatal(err)
	}
	want, _ := ms.Load(context.Background(), id)
	wantSame(t, "local record", load(t, h, id), want)
	if want.LastSeen.Equal(c.LastSeen) {
		t.Fatal("test bug: the remote kept nanoseconds")
	}
}

// msRemote keeps times to the millisecond, like Redis.
type msRemote struct{ store.Store }

func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli())
}

func (m *msRemote) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	c.Created, c.LastSeen, c.Expires = ms(c.Created), ms(c.LastSeen), ms(c.Expires)
	return m.Store.Commit(ctx, id, c)
}

// Without skipping its own echoes, a node's write is evicted by its own
// notification: the next read costs a remote load. (What BenchmarkOwnEcho
// measures.)
func TestWithoutEchoSkipWriteEvicts(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, notify, hybridstore.WithoutEchoSkip())
	id := e.warm(t, h, "a", "1")
	loads := r.loads.Load()
	set(t, h, id, "b", "2")
	e.bus.settle(t)
	if v := value(t, h, id, "b"); v != "2" {
		t.Fatalf("b = %q", v)
	}
	if n := r.loads.Load() - loads; n != 1 {
		t.Errorf("%d remote loads after a write, want 1", n)
	}
}

// A node whose entry is behind the remote (another node wrote, and nothing
// told this one yet) evicts on its own write instead of applying the change
// to the old state.
func TestWriteOnStaleEntryEvicts(t *testing.T) {
	e := newEnv(t)
	a, _ := e.node(t, ttl)
	b, _ := e.node(t, ttl)
	id := e.warm(t, a, "a", "1")
	set(t, b, id, "b", "2") // a does not know: its entry is at version 1
	set(t, a, id, "c", "3") // remote version 3; a had 1, not 2
	rec := load(t, a, id)
	if string(rec.Values.Get("b")) != "2" || string(rec.Values.Get("c")) != "3" || rec.Version != 3 {
		t.Errorf("after writes on two nodes: %+v, want b=2 c=3 at version 3", rec)
	}
}

// A failed write evicts: the write may or may not have reached the remote.
func TestFailedWriteEvicts(t *testing.T) {
	writes := map[string]func(h *hybridstore.Store, id string, now time.Time) error{
		"Commit": func(h *hybridstore.Store, id string, now time.Time) error {
			_, err := h.Commit(context.Background(), id, store.Change{Mode: store.Update, Set: vals("b", "2")})
			return err
		},
		"Touch": func(h *hybridstore.Store, id string, now time.Time) error {
			return h.Touch(context.Background(), id, now, now.Add(time.Hour))
		},
		"Move": func(h *hybridstore.Store, id string, now time.Time) error {
			return h.Move(context.Background(), id, store.Moved{To: newID()}, now.Add(time.Minute), 1)
		},
		"Delete": func(h *hybridstore.Store, id string, now time.Time) error {
			return h.Delete(context.Background(), id)
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			h, r := e.node(t, ttl)
			id := e.warm(t, h, "a", "1")
			r.down.Store(true)
			err := write(h, id, e.clock.Now())
			if !errors.Is(err, errDown) || !strings.HasPrefix(err.Error(), "hybridstore: ") {
				t.Errorf("%s on a down remote: %v, want errDown with the package's prefix", name, err)
			}
			r.down.Store(false)
			loads := r.loads.Load()
			load(t, h, id)
			if n := r.loads.Load() - loads; n != 1 {
				t.Errorf("after a failed %s: %d remote loads, want 1 (entry evicted)", name, n)
			}
			if st := h.Stats(); st.RemoteErrors != 1 {
				t.Errorf("Stats.RemoteErrors = %d, want 1", st.RemoteErrors)
			}
		})
	}
}

// A typed outcome (the remote refused the write) evicts too: it says the
// local entry was wrong, and it is not a remote error.
func TestRefusedWriteEvicts(t *testing.T) {
	e := newEnv(t)
	a, ra := e.node(t, ttl)
	id := e.warm(t, a, "a", "1")
	if err := e.mem.Delete(context.Background(), id); err != nil { // behind a's back
		t.Fatal(err)
	}
	_, err := a.Commit(context.Background(), id, store.Change{Mode: store.Update, Set: vals("b", "2")})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a deleted session: %v, want ErrNotFound", err)
	}
	loads := ra.loads.Load()
	if rec := load(t, a, id); rec != nil || ra.loads.Load() != loads+1 {
		t.Errorf("after ErrNotFound: Load = %v with %d remote loads, want nil from the remote", rec, ra.loads.Load()-loads)
	}
	if st := a.Stats(); st.RemoteErrors != 0 {
		t.Errorf("Stats.RemoteErrors = %d, want 0 for a typed outcome", st.RemoteErrors)
	}
}

// Touch and Move do not say which version they made: the entry is evicted.
// Delete evicts, and the next read finds nothing.
func TestTouchMoveDeleteEvict(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, notify)
	now := e.clock.Now()

	id := e.warm(t, h, "a", "1")
	if err := h.Touch(context.Background(), id, now, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	loads := r.loads.Load()
	if rec := load(t, h, id); !rec.Expires.Equal(now.Add(2*time.Hour)) || r.loads.Load() != loads+1 {
		t.Errorf("after Touch: expires %v after %d loads, want the touched expiry from one remote load", rec.Expires, r.loads.Load()-loads)
	}
	e.bus.settle(t)

	rec := load(t, h, id)
	to := newID()
	if err := h.Move(context.Background(), id, store.Moved{To: to}, now.Add(time.Minute), rec.Version); err != nil {
		t.Fatal(err)
	}
	if rec := load(t, h, id); rec == nil || rec.Moved == nil || rec.Moved.To != to {
		t.Errorf("after Move: %+v, want a tombstone to %s", rec, to)
	}

	id = e.warm(t, h, "a", "1")
	if err := h.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if rec := load(t, h, id); rec != nil {
		t.Errorf("after Delete: %+v, want nil", rec)
	}
}

// DeleteUser evicts the user's local entries at once, without waiting for any
// notification: here the remote sends none.
func TestDeleteUserEvictsLocally(t *testing.T) {
	e := newEnv(t)
	h, _ := e.node(t, ttl)
	now := e.clock.Now()
	alice1, alice2, bob := newID(), newID(), newID()
	create(t, h, alice1, "alice", now, "a", "1")
	create(t, h, alice2, "alice", now, "a", "1")
	create(t, h, bob, "bob", now, "a", "1")
	for _, id := range []string{alice1, alice2, bob} {
		load(t, h, id)
	}
	n, err := h.DeleteUser(context.Background(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser = %d, %v; want 2, nil", n, err)
	}
	for _, id := range []string{alice1, alice2} {
		if rec := load(t, h, id); !ended(rec) {
			t.Errorf("alice's session %.8s… still served after DeleteUser", id)
		}
	}
	hits := h.Stats().Hits
	if rec := load(t, h, bob); rec == nil || h.Stats().Hits != hits+1 {
		t.Error("bob's session was not served from memory after alice's DeleteUser")
	}
	// The empty user id names nobody: nothing is evicted.
	if _, err := h.DeleteUser(context.Background(), ""); err != nil {
		t.Logf("DeleteUser(\"\"): %v", err)
	}
	if load(t, h, bob); h.Stats().Hits != hits+2 {
		t.Error("DeleteUser(\"\") evicted bob's session")
	}
}

// UserSessions is the remote's answer.
func TestUserSessionsPassThrough(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, ttl)
	id := newID()
	create(t, h, id, "alice", e.clock.Now())
	infos, err := h.UserSessions(context.Background(), "alice")
	if err != nil || len(infos) != 1 || infos[0].ID != id {
		t.Errorf("UserSessions = %v, %v; want the one session", infos, err)
	}
	r.down.Store(true)
	if _, err := h.UserSessions(context.Background(), "alice"); !errors.Is(err, errDown) {
		t.Errorf("UserSessions on a down remote: %v", err)
	}
}

// Concurrent writes through one node: the local entry ends exactly as the
// remote's record, whichever writes it could apply.
func TestConcurrentWritesEndExact(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			h, _ := e.node(t, mode)
			id := e.warm(t, h, "a", "1")
			errs := make(chan error, 32)
			for i := range 32 {
				go func() {
					_, err := h.Commit(context.Background(), id, store.Change{Mode: store.Update, Set: vals(fmt.Sprint("k", i), "v")})
					errs <- err
				}()
			}
			for range 32 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			e.bus.settle(t)
			want, _ := e.mem.Load(context.Background(), id)
			wantSame(t, "local record after concurrent writes", load(t, h, id), want)
		})
	}
}
