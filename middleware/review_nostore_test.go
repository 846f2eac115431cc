package middleware_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// cacheAtHeaders sets a cacheable Cache-Control when the headers go out,
// overriding what is there: a "cache GETs by default" middleware.
type cacheAtHeaders struct {
	http.ResponseWriter
	done bool
}

func (c *cacheAtHeaders) WriteHeader(code int) {
	if !c.done {
		c.done = true
		c.Header().Set("Cache-Control", "public, max-age=600")
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cacheAtHeaders) Write(b []byte) (int, error) {
	if !c.done {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

func (c *cacheAtHeaders) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func cacheMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &cacheAtHeaders{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if !cw.done {
			cw.WriteHeader(http.StatusOK)
		}
	})
}

// Two Sessions layers on one Manager (an app-wide one and a sub-router's),
// with a middleware between them that marks responses cacheable when their
// headers go out. The handler's session is the inner layer's; its cookie
// passes through the outer layer, which no longer scans Set-Cookie because
// its own session was never built: the cookie (or header token) goes out
// with Cache-Control: public. Before 2697d92 the outer layer's scan found it
// and set no-store.
func TestNestedSessionsCookieGetsNoStore(t *testing.T) {
	for _, header := range []bool{false, true} {
		var e *env
		if header {
			e = headerEnv(t)
		} else {
			e = newEnv(t)
		}
		inner := middleware.Sessions(e.m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			session.From(r.Context()).Set("k", "v")
			io.WriteString(w, "hello")
		}))
		e.h = middleware.Sessions(e.m)(cacheMiddleware(inner))
		r := e.do("GET", "/", "")
		_, tok := r.header[tokenHeader]
		if r.cookie == nil && !tok {
			t.Fatalf("header=%v: no session cookie or token: %v", header, r.header)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("header=%v: Cache-Control %q on a response that carries the session cookie/token (nested Sessions), want no-store", header, got)
		}
	}
}

// An adapter following Manager.Begin's documented protocol (Begin,
// NewContext, Commit before the headers) mounted inside Sessions, e.g. a
// sub-framework's own session glue: its cookie used to get no-store from
// the scan; now the outer Sessions skips the scan since its Lazy was never
// built.
func TestBeginAdapterInsideSessionsGetsNoStore(t *testing.T) {
	e := newEnv(t)
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := e.m.Begin(r)
		defer s.End()
		r = r.WithContext(session.NewContext(r.Context(), s))
		session.From(r.Context()).Set("k", "v")
		if err := s.Commit(w.Header()); err != nil {
			t.Error(err)
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "cacheable?")
	}))
	r := e.do("GET", "/", "")
	wantCookieNoStore(t, r)
}

// A handler that clears the session cookie by hand (a logout that expires
// the cookie instead of calling Destroy), or a reverse proxy inside
// Sessions relaying a backend's session cookie: the response carries the
// session cookie and used to get no-store.
func TestHandSetSessionCookieGetsNoStore(t *testing.T) {
	e := newEnv(t)
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: e.m.CookieName(), Value: "relayed-token", Path: "/"})
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "cacheable?")
	}))
	r := e.do("GET", "/", "")
	wantCookieNoStore(t, r)
}

// wantCookieNoStore checks that r carries the session cookie, with
// Cache-Control: no-store.
func wantCookieNoStore(t *testing.T, r resp) {
	t.Helper()
	if r.cookie == nil {
		t.Fatal("no session cookie")
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q on a response that carries the session cookie, want no-store", got)
	}
}

// A session built by a goroutine of the handler before the headers go out
// is committed before them, with no-store.
func TestSessionBuiltInGoroutine(t *testing.T) {
	e := newEnv(t)
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); session.From(r.Context()).Set("k", "v") }()
		wg.Wait()
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "x")
	}))
	r := e.do("GET", "/", "")
	if r.cookie == nil || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("cookie %v, Cache-Control %q", r.cookie, r.header.Get("Cache-Control"))
	}
}

// A session first built after the headers went out (Flush, WriteHeader, a
// 103 does not count) is committed late: an existing session's change is
// saved; a new session's is not and is logged.
func TestSessionBuiltAfterHeaders(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	for _, how := range []string{"flush", "writeheader", "write"} {
		e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints) // does not commit
			switch how {
			case "flush":
				http.NewResponseController(w).Flush()
			case "writeheader":
				w.WriteHeader(http.StatusOK)
			case "write":
				io.WriteString(w, "x")
			}
			session.From(r.Context()).Set("a", how)
		}))
		c.do("GET", "/")
		e.h = middleware.Sessions(e.m)(e.routes())
		if got := c.get("/get?k=a"); got != how {
			t.Errorf("%s: a = %q after a change made after the headers, want %q (committed late)", how, got, how)
		}
	}
	// New session after the headers: not saved, logged.
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "x")
		session.From(r.Context()).Set("a", "new")
	}))
	if r := e.do("GET", "/", ""); r.cookie != nil {
		t.Errorf("a cookie after the headers went out: %v", r.cookie)
	}
	deadline := time.Now().Add(time.Second)
	for !strings.Contains(e.logs.String(), "not saved") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), "not saved") && !strings.Contains(e.logs.String(), "dropped") {
		t.Errorf("a new session made after the headers was dropped silently; log:\n%s", e.logs.String())
	}
}

// http.TimeoutHandler inside Sessions: the handler commits early and marks
// the response public; the headers reach Sessions' writer through the
// TimeoutHandler's copy, with the session built: no-store.
func TestTimeoutHandlerInsideEarlyCommit(t *testing.T) {
	e := newEnv(t)
	e.h = wrap(e, http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("k", "v")
		if err := s.Commit(w.Header()); err != nil {
			t.Error(err)
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "x")
	}), time.Second, "timeout"))
	r := e.do("GET", "/", "")
	if r.cookie == nil || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("cookie %v, Cache-Control %q", r.cookie, r.header.Get("Cache-Control"))
	}
}
