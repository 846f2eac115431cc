package middleware_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// A request cut by its own deadline (http.TimeoutHandler outside Sessions)
// is not a store fault: counted canceled, not logged as an error.
func TestRequestDeadlineIsNotAStoreFault(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, session.WithObserver(rec))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	rec.take()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	req := newRequest("GET", "/get?k=a").WithContext(ctx)
	req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: c.cookie})
	e.serve(req)
	calls, _ := rec.take()
	if !slices.Equal(calls, []string{"load:canceled:found=false"}) {
		t.Errorf("calls %q, want one load with outcome canceled", calls)
	}
	if strings.Contains(e.logs.String(), "store call failed") {
		t.Errorf("a request past its own deadline was logged as a store fault: %s", e.logs.String())
	}
}

// A Secure cookie set on plain HTTP for a host other than localhost is never
// sent back: warned once per middleware, not per request.
func TestSecureCookieOnPlainHTTPWarnsOnce(t *testing.T) {
	const warning = "Secure session cookie was set on a plain-HTTP request"
	login := func(e *env, host string, header ...string) {
		req := newRequest("POST", "/set?k=a&v=1")
		req.Host = host
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if r := e.serve(req); r.cookie == nil {
			t.Fatalf("%s: no cookie", host)
		}
	}
	e := newEnv(t)
	login(e, "app:8080")
	login(e, "app:8080")
	login(e, "other")
	if n := strings.Count(e.logs.String(), warning); n != 1 {
		t.Errorf("%d warnings, want 1: %s", n, e.logs.String())
	}
	for _, tt := range []struct {
		host   string
		header []string
	}{
		{"localhost:8080", nil},
		{"api.localhost", nil},
		{"127.0.0.1:8080", nil},
		{"[::1]:8080", nil},
		{"app.example.com", []string{"X-Forwarded-Proto", "https"}},
		{"app.example.com", []string{"Forwarded", `for=192.0.2.1;proto=https, for=10.0.0.1;proto=http`}},
	} {
		e := newEnv(t)
		login(e, tt.host, tt.header...)
		if strings.Contains(e.logs.String(), warning) {
			t.Errorf("%s %v: warned: %s", tt.host, tt.header, e.logs.String())
		}
	}
	// Not Secure (a development setup): nothing to warn about.
	e = newEnv(t, session.WithCookie(session.Cookie{Name: session.DefaultCookieName, HTTPOnly: true, SameSite: http.SameSiteLaxMode}))
	login(e, "app:8080")
	if strings.Contains(e.logs.String(), warning) {
		t.Errorf("warned for a cookie without Secure: %s", e.logs.String())
	}
}

// A change made after the handler returned (a goroutine, a handler that
// http.TimeoutHandler abandoned) is not saved: it is logged as dropped and
// reported, once per session.
func TestChangeAfterHandlerReturnedIsDroppedLoudly(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, session.WithObserver(rec))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	rec.take()
	release, finished := make(chan struct{}), make(chan struct{})
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		session.Get[string](s, "a")
		go func() {
			defer close(finished)
			<-release
			s.Set("late", "1")
			s.Set("later", "2")
			s.SetUserID("bob")
		}()
	}))
	if r := e.do("GET", "/", c.cookie); r.code != http.StatusOK {
		t.Fatalf("status %d", r.code)
	}
	close(release)
	<-finished
	if n := strings.Count(e.logs.String(), "changed after the request ended"); n != 1 {
		t.Errorf("%d log lines about the late change, want 1: %s", n, e.logs.String())
	}
	if _, events := rec.take(); !slices.Equal(events, []string{"dropped"}) {
		t.Errorf("events %q, want one dropped", events)
	}
	e.h = wrap(e, e.routes())
	if got := c.get("/get?k=late"); got != "-" {
		t.Errorf("a change after the request ended was saved: %q", got)
	}
}

// A handler that changes the session and then panics (http.ErrAbortHandler,
// or a bug) never reaches the commit: its change is dropped, and End names a
// panic among the causes, not only goroutines that outlived the handler
// (which of the two it was, the session cannot tell: a review showed both
// ways of guessing wrong).
func TestChangeBeforeAPanicIsReportedAsSuch(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	inner := wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("late", "1")
		panic(http.ErrAbortHandler)
	}))
	e.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { _ = recover() }() // as net/http's server does
		inner.ServeHTTP(w, r)
	})
	e.do("POST", "/", c.cookie)
	logs := e.logs.String()
	if !strings.Contains(logs, "the handler panicked") {
		t.Errorf("the dropped change of a panicking handler is not reported as such: %s", logs)
	}
	e.h = wrap(e, e.routes())
	if got := c.get("/get?k=late"); got != "-" {
		t.Errorf("the change of a handler that panicked was saved: %q", got)
	}
}
