package middleware_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memstore"
)

func TestTooLargeIs500WithoutRetry(t *testing.T) {
	e := newEnv(t)
	small := memstore.New(memstore.WithMaxBytes(4096))
	t.Cleanup(func() { small.Close() })
	m, err := session.New(session.WithStore(small))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.h = wrap(e, e.routes())
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	r := e.do("POST", "/set?k=big&v="+strings.Repeat("x", 8192), c.cookie)
	if r.code != http.StatusInternalServerError || r.header.Get("Retry-After") != "" {
		t.Fatalf("too large: %d Retry-After %q, want 500 without Retry-After (a retry cannot help)", r.code, r.header.Get("Retry-After"))
	}
	if got := c.get("/get?k=a"); got != "1" {
		t.Errorf("earlier value after a too-large write: %q", got)
	}
}

func TestErrorResponseKeepsOuterHeadersDropsHandlers(t *testing.T) {
	e := newEnv(t)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("k", "v")
		w.Header().Set("X-Handler", "leaked")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"saved":true}`))
	})
	sessions := wrap(e, inner)
	e.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
		sessions.ServeHTTP(w, r)
	})
	e.store.failOn("commit")
	r := e.do("POST", "/", "")
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (the commit at WriteHeader failed)", r.code)
	}
	if r.header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("outer middleware's header lost on the error response")
	}
	if r.header.Get("X-Handler") != "" || strings.Contains(r.body, "saved") {
		t.Errorf("handler's response leaked into the error response: %v %q", r.header, r.body)
	}
}

func TestFlushCommitsAndFailsLoudly(t *testing.T) {
	e := newEnv(t)
	var flushErr, writeErr error
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("k", "v")
		flushErr = http.NewResponseController(w).Flush()
		_, writeErr = w.Write([]byte("more"))
	}))
	e.store.failOn("commit")
	r := e.do("GET", "/", "")
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", r.code)
	}
	if flushErr == nil || writeErr == nil {
		t.Errorf("handler was not told: flush %v, write %v", flushErr, writeErr)
	}
}

func TestEarlyHintsPassThrough(t *testing.T) {
	e := newEnv(t)
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		session.From(r.Context()).Set("k", "v") // still before the final headers
		w.WriteHeader(http.StatusOK)
	}))
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 {
		t.Fatalf("after 103: status %d cookies %v; a change made after early hints must still set the cookie", res.StatusCode, res.Cookies())
	}
}

func TestErrorHandlerThatWritesNothing(t *testing.T) {
	e := newEnv(t)
	e.h = middleware.Sessions(e.m, middleware.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {}))(e.routes())
	e.store.failOn("commit")
	if r := e.do("POST", "/set?k=a&v=1", ""); r.code != http.StatusServiceUnavailable {
		t.Fatalf("silent error handler: status %d, want the default 503", r.code)
	}
}

func TestClosedManagerStillServesUntouchedRequests(t *testing.T) {
	e := newEnv(t)
	e.m.Close()
	if r := e.do("GET", "/none", ""); r.code != http.StatusOK {
		t.Fatalf("untouched request after Close: %d", r.code)
	}
}

func TestDeadCookieBeforeGoodOne(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	dead := strings.Repeat("A", 43) // well-formed, no session (a parent domain's, say)
	req := newRequest("GET", "/get?k=a")
	req.Header.Add("Cookie", session.DefaultCookieName+"="+dead+"; "+session.DefaultCookieName+"="+c.cookie)
	r := e.serve(req)
	if r.body != "1" {
		t.Fatalf("a dead cookie hid the live one: %q", r.body)
	}
	if r.cookie != nil && r.cookie.MaxAge < 0 {
		t.Error("the live session's cookie was expired")
	}
}

func TestDestroyThenSetStartsFreshSession(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=old&v=1")
	old := c.cookie
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Destroy()
		s.Set("fresh", "yes")
	}))
	r := c.do("GET", "/")
	if r.cookie == nil || r.cookie.MaxAge < 0 || r.cookie.Value == old {
		t.Fatalf("destroy+set: cookie %v, want a new live cookie", r.cookie)
	}
	e.h = wrap(e, e.routes())
	if got := c.get("/get?k=fresh"); got != "yes" {
		t.Errorf("fresh = %q", got)
	}
	if got := c.get("/get?k=old"); got != "-" {
		t.Errorf("old data carried into the new session: %q", got)
	}
	if r := e.do("GET", "/get?k=old", old); r.body != "-" {
		t.Errorf("old token still works: %q", r.body)
	}
}

func TestDestroySessionChecksOwner(t *testing.T) {
	e := newEnv(t)
	alice, bob := &client{e: e}, &client{e: e}
	alice.get("/login?u=alice")
	bob.get("/login?u=bob")
	infos, err := e.m.UserSessions(t.Context(), "bob")
	if err != nil || len(infos) != 1 {
		t.Fatal(infos, err)
	}
	bobID := infos[0].ID
	for _, tc := range []struct{ user, id string }{{"alice", bobID}, {"bob", "nonsense"}, {"", bobID}} {
		if err := e.m.DestroySession(t.Context(), tc.user, tc.id); err != session.ErrUnknownSession {
			t.Errorf("DestroySession(%q, %.8q) = %v, want ErrUnknownSession", tc.user, tc.id, err)
		}
	}
	if got := bob.get("/keys"); bob.cookie == "" {
		t.Fatalf("bob logged out by someone else's request: %q", got)
	}
	if err := e.m.DestroySession(t.Context(), "bob", bobID); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/get?k=x", bob.cookie); r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Errorf("bob's revoked session still live: %v", r.cookie)
	}
}

// io.WriteString and io.Copy reach the writer's WriteString and ReadFrom
// (no copy of the string; sendfile for files), and those commit first like
// Write: the cookie goes out, and a failed save stops the body.
func TestWriteStringAndReadFromCommitFirst(t *testing.T) {
	writes := map[string]func(w http.ResponseWriter) error{
		"WriteString": func(w http.ResponseWriter) error {
			if _, ok := w.(io.StringWriter); !ok {
				t.Error("the middleware's writer hides WriteString")
			}
			_, err := io.WriteString(w, "body")
			return err
		},
		"ReadFrom": func(w http.ResponseWriter) error {
			rf, ok := w.(io.ReaderFrom)
			if !ok {
				t.Fatal("the middleware's writer hides ReadFrom")
			}
			_, err := rf.ReadFrom(strings.NewReader("body"))
			return err
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			var err error
			e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				session.From(r.Context()).Set("k", "v")
				err = write(w)
			}))
			if r := e.do("GET", "/", ""); r.code != http.StatusOK || r.body != "body" || r.cookie == nil {
				t.Fatalf("status %d body %q cookie %v, err %v", r.code, r.body, r.cookie, err)
			}
			e.store.failOn("commit")
			r := e.do("GET", "/", "")
			if r.code != http.StatusServiceUnavailable || strings.Contains(r.body, "body") {
				t.Fatalf("failed save: status %d body %q", r.code, r.body)
			}
			if !errors.Is(err, middleware.ErrNotSaved) {
				t.Errorf("handler told %v, want ErrNotSaved", err)
			}
		})
	}
}

// A session committed before a 103 Early Hints must not send its credentials
// in it: net/http sends the whole header map with an informational response.
// The final response carries them.
func TestEarlyHintsCarryNoSessionCredentials(t *testing.T) {
	for _, header := range []bool{false, true} {
		t.Run(fmt.Sprintf("header=%v", header), func(t *testing.T) {
			e := newEnv(t)
			if header {
				e = headerEnv(t)
			}
			e.h = middleware.Sessions(e.m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r.Context())
				s.Set("k", "v")
				if err := s.Commit(w.Header()); err != nil {
					t.Error(err)
				}
				http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
				w.Header().Set("Link", "</app.css>; rel=preload")
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusOK)
			}))
			srv := httptest.NewServer(e.h)
			defer srv.Close()
			var early []http.Header
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
				Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
					early = append(early, http.Header(h).Clone())
					return nil
				},
			})
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			if header {
				req.Header.Set(tokenHeader, "")
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if len(early) != 1 {
				t.Fatalf("%d informational responses, want 1", len(early))
			}
			for _, v := range early[0].Values("Set-Cookie") {
				if strings.HasPrefix(v, session.DefaultCookieName+"=") {
					t.Errorf("the 103 carried the session cookie: %q", v)
				}
			}
			if early[0].Get("Set-Cookie") == "" || early[0].Get("Link") == "" {
				t.Errorf("the 103 lost the handler's own headers: %v", early[0])
			}
			if _, ok := early[0][tokenHeader]; ok {
				t.Errorf("the 103 carried the session token header: %v", early[0])
			}
			got := res.Header.Get(tokenHeader) != ""
			if !header {
				got = false
				for _, c := range res.Cookies() {
					got = got || c.Name == session.DefaultCookieName
				}
			}
			if !got || res.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("final response: credentials sent %v, Cache-Control %q; want them, with no-store", got, res.Header.Get("Cache-Control"))
			}
		})
	}
}
