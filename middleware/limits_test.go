package middleware_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
)

// A user id no backend could index alike is the application's mistake: 500
// without Retry-After, nothing written, the same on every backend.
func TestInvalidUserIDIs500AndWritesNothing(t *testing.T) {
	for _, id := range []string{"a\x00b", "bad\xffutf8", "tab\there", "del\x7f", strings.Repeat("u", session.MaxUserIDLen+1)} {
		e := newEnv(t)
		var errSeen error
		e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			s.Set("k", "v")
			s.SetUserID(id)
			errSeen = s.Err()
			io.WriteString(w, "welcome")
		}))
		r := e.do("POST", "/login", "")
		if r.code != http.StatusInternalServerError || r.header.Get("Retry-After") != "" {
			t.Errorf("user id %.20q: status %d Retry-After %q, want 500 without Retry-After", id, r.code, r.header.Get("Retry-After"))
		}
		var ue *session.UserIDError
		if !errors.Is(errSeen, session.ErrInvalidUserID) || !errors.As(errSeen, &ue) || ue.Reason == "" {
			t.Errorf("user id %.20q: Err() = %v, want a *UserIDError matching ErrInvalidUserID", id, errSeen)
		}
		if n := e.store.n(""); n != 0 {
			t.Errorf("user id %.20q: %d store calls, want none", id, n)
		}
		if strings.Contains(r.body, "user id") {
			t.Errorf("error details reached the client: %q", r.body)
		}
	}
	// Valid ids, including non-ASCII ones, still work.
	e := newEnv(t)
	for _, id := range []string{"alice", "Zoë@example.org", strings.Repeat("u", session.MaxUserIDLen)} {
		c := &client{e: e}
		if r := c.do("POST", "/login?u="+id); r.code != http.StatusOK {
			t.Errorf("user id %.20q: status %d", id, r.code)
		}
	}
}

// A user id that cannot be indexed has no sessions, and costs no store call.
func TestUserSessionsOfInvalidUserID(t *testing.T) {
	e := newEnv(t)
	infos, err := e.m.UserSessions(t.Context(), "a\x00b")
	if err != nil || len(infos) != 0 {
		t.Errorf("UserSessions: %v, %v", infos, err)
	}
	if n := e.store.n(""); n != 0 {
		t.Errorf("%d store calls", n)
	}
}

// Whenever the response carries the session cookie, no-store wins over what
// the handler set after committing the session itself.
func TestNoStoreWinsAfterAnEarlyCommit(t *testing.T) {
	for _, write := range []bool{true, false} {
		e := newEnv(t)
		e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			s.Set("k", "v")
			if err := s.Commit(w.Header()); err != nil {
				t.Error(err)
			}
			w.Header().Set("Cache-Control", "public, max-age=3600")
			if write {
				io.WriteString(w, "cacheable?")
			}
		}))
		r := e.do("GET", "/", "")
		if r.cookie == nil {
			t.Fatal("no session cookie")
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("write=%v: Cache-Control %q on a response that sets the session cookie, want no-store", write, got)
		}
	}
	// A response without the session cookie keeps the handler's caching.
	e := newEnv(t)
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
		io.WriteString(w, "static")
	}))
	if got := e.do("GET", "/", "").header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control %q on a response without the session cookie", got)
	}
}

// A request in flight when its Manager is closed (a replica shutting down)
// gets the store-failure response: the client may retry elsewhere.
func TestCloseDuringRequestIs503(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=x&v=1")
	done := make(chan resp)
	go func() { done <- e.do("GET", "/slow", c.cookie) }()
	<-e.slowStarted
	e.m.Close()
	close(e.slowRelease)
	r := <-done
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", r.code, r.header.Get("Retry-After"))
	}
}

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&session.StoreError{Op: "load", Err: errDown}, true},
		{session.ErrClosed, true},
		{&session.UserIDError{Reason: "x"}, false},
		{session.ErrInvalidKey, false},
	} {
		if got := middleware.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v", tt.err, got)
		}
	}
}

// slowStore takes delay over every call, or until the call's deadline.
type slowStore struct {
	store.Store
	delay time.Duration
}

func (s slowStore) wait(ctx context.Context) error {
	select {
	case <-time.After(s.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slowStore) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.Load(ctx, id)
}

func (s slowStore) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := s.wait(ctx); err != nil {
		return store.Result{}, err
	}
	return s.Store.Commit(ctx, id, c)
}

func (s slowStore) Move(ctx context.Context, id string, m store.Moved, expires time.Time, v uint64) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Move(ctx, id, m, expires, v)
}

func (s slowStore) Delete(ctx context.Context, id string) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.Delete(ctx, id)
}

// End to end: logout plus a flash against a store that takes most of a
// store timeout per call is cut at the request's store budget and answered
// 503, where each call's own timeout would have let it take four timeouts'
// worth. (The session package tests the bound exactly, on a simulated clock.)
func TestSlowStoreLogoutAndFlashIsCutAtTheBudget(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	const timeout = 50 * time.Millisecond
	m, err := session.New(session.WithStore(slowStore{Store: e.mem, delay: timeout * 8 / 10}),
		session.WithClock(e.clock.Now), session.WithStoreTimeout(timeout), session.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e.m = m
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Destroy()
		s.AddFlash("logged out")
	}))
	r := e.do("POST", "/logout", c.cookie)
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q: want 503 once the budget (2 × %v) is spent", r.code, r.header.Get("Retry-After"), timeout)
	}
}

// no-store must also win over the caching directives aimed at CDNs alone
// (RFC 9213's CDN-Cache-Control and its vendor variants, Surrogate-Control),
// which a CDN obeys instead of Cache-Control: for the cookie and the token
// header alike.
func TestNoStoreClearsCDNDirectives(t *testing.T) {
	targeted := []string{"CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control"}
	for _, header := range []bool{false, true} {
		var e *env
		if header {
			e = headerEnv(t)
		} else {
			e = newEnv(t)
		}
		e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			s.Set("k", "v")
			if err := s.Commit(w.Header()); err != nil {
				t.Error(err)
			}
			w.Header().Set("Cache-Control", "public, max-age=3600")
			for _, k := range targeted {
				w.Header().Set(k, "public, max-age=3600")
			}
			io.WriteString(w, "cacheable?")
		}))
		req := newRequest("GET", "/")
		if header {
			req.Header.Set(tokenHeader, "")
		}
		r := e.serve(req)
		if r.cookie == nil && r.header.Get(tokenHeader) == "" {
			t.Fatalf("header=%v: the response carries no session credential", header)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("header=%v: Cache-Control %q, want no-store", header, got)
		}
		for _, k := range targeted {
			if got := r.header.Get(k); got != "" {
				t.Errorf("header=%v: %s %q on a response that carries the session credential", header, k, got)
			}
		}
	}
	// A response without a credential keeps them.
	e := newEnv(t)
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("CDN-Cache-Control", "max-age=60")
		io.WriteString(w, "static")
	}))
	if got := e.do("GET", "/", "").header.Get("CDN-Cache-Control"); got != "max-age=60" {
		t.Errorf("CDN-Cache-Control %q on a response without a credential", got)
	}
}
