package middleware_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu     sync.Mutex
	calls  []string // "op:outcome[:found]"
	events []string // "kind[:periodic][:reason]"
}

func (r *recorder) StoreStart(ctx context.Context, d session.StoreStartData) context.Context {
	return ctx
}

func (r *recorder) StoreEnd(ctx context.Context, d session.StoreEndData) {
	s := d.Op.String() + ":" + d.Outcome
	if d.Op == session.OpLoad {
		s += fmt.Sprintf(":found=%v", d.Found)
	}
	if d.Op == session.OpCommit {
		s += fmt.Sprintf(":%s:keys=%d:bytes=%d", d.Mode, d.Keys, d.Bytes)
	}
	if d.Duration <= 0 {
		s += ":no-duration"
	}
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) Event(ctx context.Context, d session.EventData) {
	s := d.Kind.String()
	if d.Periodic {
		s += ":periodic"
	}
	if d.Kind == session.EventDropped && d.Reason == "" {
		s += ":no-reason"
	}
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
}

func (r *recorder) take() (calls, events []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls, events = r.calls, r.events
	r.calls, r.events = nil, nil
	return calls, events
}

func TestObserverSeesCallsAndEvents(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, session.WithObserver(rec), session.WithRotateEvery(15*time.Minute), session.WithTouchInterval(time.Minute))
	c := &client{e: e}
	steps := []struct {
		name          string
		do            func()
		calls, events []string
	}{
		{"create", func() { c.do("POST", "/set?k=a&v=1") },
			[]string{"commit:ok:create:keys=2:bytes=16"}, []string{"created"}},
		{"hit", func() { c.get("/get?k=a") },
			[]string{"load:ok:found=true"}, nil},
		{"untouched", func() { c.get("/none") }, nil, nil},
		{"invalid cookie", func() { e.do("GET", "/get?k=a", "garbage") },
			nil, []string{"invalid_cookie"}},
		{"periodic rotation", func() { e.clock.Advance(16 * time.Minute); c.get("/get?k=a") },
			[]string{"load:ok:found=true", "commit:ok:create:keys=2:bytes=16", "move:ok"}, []string{"rotated:periodic"}},
		{"login", func() { c.get("/login?u=alice") },
			[]string{"load:ok:found=true", "commit:ok:create:keys=2:bytes=16", "move:ok"}, []string{"rotated"}},
		{"commit error", func() { e.store.failOn("commit"); c.do("POST", "/set?k=b&v=2"); e.store.fail.Store(nil) },
			[]string{"commit:error:update:keys=1:bytes=3"}, nil},
		{"logout", func() { c.get("/logout") },
			[]string{"load:ok:found=true", "move:ok"}, []string{"destroyed"}},
	}
	for _, st := range steps {
		st.do()
		calls, events := rec.take()
		if !slices.Equal(calls, st.calls) {
			t.Errorf("%s: store calls %q, want %q", st.name, calls, st.calls)
		}
		if !slices.Equal(events, st.events) {
			t.Errorf("%s: events %q, want %q", st.name, events, st.events)
		}
	}
}

func TestObserverSeesExpiredAndDropped(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, session.WithObserver(rec))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	cookie := c.cookie
	c.get("/logout")
	rec.take()
	e.do("GET", "/get?k=a", cookie) // a dead session's cookie
	if _, events := rec.take(); !slices.Equal(events, []string{"expired"}) {
		t.Errorf("dead cookie: events %q, want expired", events)
	}
	// A set-only write with the cookie of a session that was logged out
	// finds the logout's tombstone: logout wins, the write is dropped.
	r := e.do("POST", "/set?k=a&v=2", cookie)
	if _, events := rec.take(); !slices.Equal(events, []string{"dropped"}) {
		t.Errorf("write to a logged-out session: events %q, want dropped", events)
	}
	if r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Errorf("write to a logged-out session: cookie %v, want it expired", r.cookie)
	}

	// A set-only write with a cookie whose session expired never saw it
	// alive: it starts a new session rather than vanish.
	c.do("POST", "/set?k=a&v=1")
	expired := c.cookie
	e.clock.Advance(session.DefaultIdleTimeout + time.Minute)
	rec.take()
	r = e.do("POST", "/set?k=a&v=2", expired)
	if _, events := rec.take(); !slices.Equal(events, []string{"expired", "created"}) {
		t.Errorf("write to an expired session: events %q, want expired, created", events)
	}
	if r.cookie == nil || r.cookie.Value == expired || r.cookie.MaxAge < 0 {
		t.Fatalf("write to an expired session: cookie %v, want a new session's", r.cookie)
	}
	if !strings.Contains(e.logs.String(), "start a new session") {
		t.Errorf("restarted write not logged: %s", e.logs.String())
	}

	// A write whose session was alive when the request read it, and was
	// logged out before it committed, is dropped: logout wins.
	c.do("POST", "/set?k=a&v=1")
	done := make(chan resp)
	go func() { done <- e.do("POST", "/slow", c.cookie) }()
	<-e.slowStarted
	c.get("/logout")
	rec.take()
	close(e.slowRelease)
	if r := <-done; r.cookie != nil && r.cookie.MaxAge >= 0 {
		t.Errorf("a write racing logout was handed a session: %v", r.cookie)
	}
	if _, events := rec.take(); !slices.Equal(events, []string{"dropped"}) {
		t.Errorf("write racing logout: events %q, want dropped", events)
	}
	if !strings.Contains(e.logs.String(), "changes dropped") {
		t.Errorf("dropped write not logged: %s", e.logs.String())
	}
}

func TestStoreFaultsAreLoggedRateLimited(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.failOn("load")
	for range 50 {
		if r := e.do("GET", "/get?k=a", c.cookie); r.code != http.StatusServiceUnavailable {
			t.Fatalf("status %d", r.code)
		}
	}
	if n := strings.Count(e.logs.String(), "store call failed"); n != 1 {
		t.Errorf("50 failures within a second logged %d times, want 1", n)
	}
}

func TestSeveralObserversAllTold(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	e := newEnv(t, session.WithObserver(a), session.WithObserver(b))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	for _, r := range []*recorder{a, b} {
		calls, events := r.take()
		if len(calls) != 1 || !slices.Equal(events, []string{"created"}) {
			t.Errorf("observer told %q %q, want one call and created", calls, events)
		}
	}
}

func TestClientGoneIsNotAStoreFault(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, session.WithObserver(rec))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	rec.take()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client hung up before the handler read its session
	req := newRequest("GET", "/get?k=a").WithContext(ctx)
	req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: c.cookie})
	e.serve(req)
	calls, _ := rec.take()
	if !slices.Equal(calls, []string{"load:canceled:found=false"}) {
		t.Errorf("calls %q, want one load with outcome canceled", calls)
	}
	if strings.Contains(e.logs.String(), "store call failed") {
		t.Errorf("a client that went away was logged as a store fault: %s", e.logs.String())
	}
}

// fromObserver asks each store call's context for a session, as an Observer
// that tags its metrics with the user might, and notes whether it got the
// session of the request being served.
type fromObserver struct {
	recorder
	handlers atomic.Pointer[session.Session] // the handler's session
	calls    atomic.Int32
	leaked   atomic.Int32
}

func (o *fromObserver) StoreStart(ctx context.Context, d session.StoreStartData) context.Context {
	o.calls.Add(1)
	if s := session.From(ctx); s == o.handlers.Load() {
		o.leaked.Add(1)
	}
	return ctx
}

// TestStoreCallContextCarriesNoSession: a store call runs under the
// request's context as it came in, not the one the handler sees, so an
// Observer (or a store) that asks that context for a session gets a
// detached one. Given the handler's session instead, any method it called
// would wait for the session's own lock, held by the load it observes.
func TestStoreCallContextCarriesNoSession(t *testing.T) {
	obs := &fromObserver{}
	e := newEnv(t, session.WithObserver(obs))
	h := middleware.Sessions(e.m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		obs.handlers.Store(s)
		s.Set("a", "1") // loads first: a store call
		io.WriteString(w, "ok")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(rec, req) // a new session: nothing to load, one commit
	c := rec.Result().Cookies()
	if len(c) == 0 {
		t.Fatal("no cookie")
	}
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(c[0])
	h.ServeHTTP(httptest.NewRecorder(), req) // loads, then commits
	if obs.calls.Load() < 2 {
		t.Fatalf("the Observer saw %d store calls, want a load and commits", obs.calls.Load())
	}
	if n := obs.leaked.Load(); n > 0 {
		t.Errorf("%d of %d store calls' contexts gave the handler's own session to From", n, obs.calls.Load())
	}
}
