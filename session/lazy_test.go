package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/tether-go/tether/session"
)

// events records the Observer's events.
type events struct {
	mu    sync.Mutex
	kinds []session.EventKind
}

func (e *events) StoreStart(ctx context.Context, _ session.StoreStartData) context.Context {
	return ctx
}
func (e *events) StoreEnd(context.Context, session.StoreEndData) {}
func (e *events) Event(_ context.Context, d session.EventData) {
	e.mu.Lock()
	e.kinds = append(e.kinds, d.Kind)
	e.mu.Unlock()
}

func (e *events) count(k session.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, got := range e.kinds {
		if got == k {
			n++
		}
	}
	return n
}

// A Lazy builds nothing until From asks, then one session for every caller
// on every goroutine, built by Begin on the original request.
func TestLazyBuildsOnFirstFrom(t *testing.T) {
	m := newManager(t)
	r := httptest.NewRequest("GET", "/", nil)
	var l session.Lazy
	l.Init(m, r)
	ctx := l.Context(context.WithValue(r.Context(), otherKey{}, "v"))
	if l.Built() != nil {
		t.Fatal("built before From")
	}
	if ctx.Value(otherKey{}) != "v" {
		t.Fatal("parent's value lost")
	}
	var wg sync.WaitGroup
	got := make([]*session.Session, 8)
	for i := range got {
		wg.Go(func() { got[i] = session.From(ctx) })
	}
	wg.Wait()
	for i, s := range got {
		if s == nil || s != got[0] || s != l.Built() || l.Session() != s {
			t.Fatalf("call %d: another session", i)
		}
	}
	if err := got[0].Err(); err != nil {
		t.Fatalf("a lazy session is not detached: %v", err)
	}
}

// A session built after End is ended from the start: its changes are
// dropped and reported, as any change after End.
func TestLazyBuiltAfterEndDropsChanges(t *testing.T) {
	ev := &events{}
	m := newManager(t, session.WithObserver(ev))
	var l session.Lazy
	l.Init(m, httptest.NewRequest("GET", "/", nil))
	ctx := l.Context(context.Background())
	l.End()
	s := session.From(ctx)
	s.Set("k", "v")
	if n := ev.count(session.EventDropped); n != 1 {
		t.Fatalf("%d EventDropped, want 1", n)
	}
	h := http.Header{}
	if err := s.Commit(h); err != nil {
		t.Fatal(err)
	}
	if len(h["Set-Cookie"]) != 0 {
		t.Fatalf("a session changed after End was created: %v", h)
	}
}

// End ends a session that was built before it.
func TestLazyEndEndsTheBuiltSession(t *testing.T) {
	ev := &events{}
	m := newManager(t, session.WithObserver(ev))
	var l session.Lazy
	l.Init(m, httptest.NewRequest("GET", "/", nil))
	s := session.From(l.Context(context.Background()))
	l.End()
	s.Set("k", "v")
	if n := ev.count(session.EventDropped); n != 1 {
		t.Fatalf("%d EventDropped, want 1", n)
	}
}

// A change made after the request's last commit but before End (a goroutine
// of the handler, racing the middleware's save) is not saved: End reports it
// as dropped, once, as it does a change after End. Before, nothing said so.
// A Destroy in that window, which would never run, is reported too.
func TestChangeBetweenLastCommitAndEndIsReported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*session.Session)
	}{
		{"set", func(s *session.Session) { s.Set("late", "1") }},
		{"user", func(s *session.Session) { s.SetUserID("bob") }},
		{"destroy", func(s *session.Session) { s.Destroy() }},
		{"rotate", func(s *session.Session) { s.Rotate() }}, // a login's, found by a review
		{"none", func(s *session.Session) { _ = s.UserID() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			m := newManager(t, session.WithObserver(ev))
			var l session.Lazy
			l.Init(m, httptest.NewRequest("GET", "/", nil))
			s := session.From(l.Context(context.Background()))
			s.Set("k", "v")
			if err := s.Commit(http.Header{}); err != nil {
				t.Fatal(err)
			}
			tc.change(s)
			l.End()
			want := 1
			if tc.name == "none" {
				want = 0
			}
			if n := ev.count(session.EventDropped); n != want {
				t.Fatalf("%d EventDropped at End, want %d", n, want)
			}
			s.Set("after", "end") // reported once per session in all
			if n := ev.count(session.EventDropped); n != 1 {
				t.Fatalf("%d EventDropped after a change after End, want 1", n)
			}
		})
	}
}
