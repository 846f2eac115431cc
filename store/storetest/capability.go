package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var capabilityTests = []test{
	{"Versioner", testVersioner},
	{"Notifier", testNotifier},
	{"Pinger", testPinger},
}

func testVersioner(t *testing.T, e *env) {
	s := e.store(t)
	v, ok := s.(store.Versioner)
	if !ok {
		t.Skip("store does not implement store.Versioner")
	}
	version := func(id string) uint64 {
		t.Helper()
		n, err := v.Version(e.ctx(t), id)
		if err != nil {
			t.Fatalf("Version: %v", err)
		}
		return n
	}
	agrees := func(id, after string) uint64 {
		t.Helper()
		n := version(id)
		if want := mustLoad(t, s, id).Version; n != want {
			t.Errorf("Version after %s = %d, Load reports %d", after, n, want)
		}
		return n
	}

	id := newID()
	if n := version(id); n != 0 {
		t.Errorf("Version of a missing record = %d, want 0", n)
	}
	e.create(t, s, id, "", vals("a", "1"))
	v1 := agrees(id, "Create")
	e.update(t, s, id, vals("b", "2"))
	v2 := agrees(id, "Commit")
	now := e.now()
	if err := s.Touch(e.ctx(t), id, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	v3 := agrees(id, "Touch")
	if !(v1 < v2 && v2 < v3) {
		t.Errorf("versions after Create, Commit, Touch = %d, %d, %d; want increasing", v1, v2, v3)
	}
	if err := s.Move(e.ctx(t), id, store.Moved{To: newID()}, now.Add(time.Hour), v3); err != nil {
		t.Fatal(err)
	}
	if v4 := agrees(id, "Move"); v4 == 0 {
		t.Error("Version of a tombstone = 0, want a version of its own")
	}
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatal(err)
	}
	if n := version(id); n != 0 {
		t.Errorf("Version after Delete = %d, want 0", n)
	}

	expired := newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(-time.Second)
	commit(t, s, expired, c)
	if n := version(expired); n != 0 {
		t.Errorf("Version of an expired record = %d, want 0", n)
	}
}

// notifyTimeout bounds the wait for the first (Reset) event, which may need a
// connection, and for each change event after it.
const (
	notifyResetTimeout = 5 * time.Second
	notifyEventTimeout = 2 * time.Second
)

func testNotifier(t *testing.T, e *env) {
	s := e.store(t)
	n, ok := s.(store.Notifier)
	if !ok {
		t.Skip("store does not implement store.Notifier")
	}
	ctx, cancel := context.WithCancel(t.Context())
	events := make(chan store.Event, 1024)
	returned := make(chan error, 1)
	go func() {
		returned <- n.Notify(ctx, func(ev store.Event) {
			select {
			case events <- ev:
			default: // the test is failing anyway; fn must not block
			}
		})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-returned:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Notify returned %v after its context was cancelled, want context.Canceled", err)
			}
		case <-time.After(notifyEventTimeout):
			t.Errorf("Notify has not returned %v after its context was cancelled", notifyEventTimeout)
		}
	}
	t.Cleanup(stop)

	select {
	case ev := <-events:
		if !ev.Reset {
			t.Fatalf("first event %+v, want Reset", ev)
		}
	case err := <-returned:
		t.Fatalf("Notify returned before its context was done: %v", err)
	case <-time.After(notifyResetTimeout):
		t.Fatalf("no Reset event within %v", notifyResetTimeout)
	}

	// Every kind of write to a record is announced under its ID.
	id, user := newID(), newUser()
	expect := func(what string, write func()) {
		t.Helper()
		write()
		deadline := time.After(notifyEventTimeout)
		for {
			select {
			case ev := <-events:
				if ev.ID == id {
					return
				}
				if ev.Lost {
					t.Fatalf("subscription lost while waiting for the event of %s", what)
				}
			case <-deadline:
				t.Fatalf("no event for %s within %v", what, notifyEventTimeout)
			}
		}
	}
	expect("Create", func() { e.create(t, s, id, user, vals("a", "1")) })
	expect("Update", func() { e.update(t, s, id, vals("b", "2")) })
	expect("Touch", func() {
		now := e.now()
		if err := s.Touch(e.ctx(t), id, now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
	expect("Move", func() {
		v := mustLoad(t, s, id).Version
		if err := s.Move(e.ctx(t), id, store.Moved{To: newID()}, e.now().Add(time.Hour), v); err != nil {
			t.Fatal(err)
		}
	})
	expect("Delete", func() {
		if err := s.Delete(e.ctx(t), id); err != nil {
			t.Fatal(err)
		}
	})
	id = newID()
	e.create(t, s, id, user, nil)
	expect("DeleteUser", func() {
		if _, err := s.DeleteUser(e.ctx(t), user); err != nil {
			t.Fatal(err)
		}
	})
	stop()
}

func testPinger(t *testing.T, e *env) {
	s := e.store(t)
	p, ok := s.(store.Pinger)
	if !ok {
		t.Skip("store does not implement store.Pinger")
	}
	if err := p.Ping(e.ctx(t)); err != nil {
		t.Errorf("Ping of a working store: %v", err)
	}
}
