package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

const tokenHeader = "X-Session-Token"

// apiClient carries its token in the header, as a mobile app would.
type apiClient struct {
	e     *env
	token string
}

func (c *apiClient) do(method, target string) resp {
	c.e.t.Helper()
	req := newRequest(method, target)
	req.Header.Set(tokenHeader, c.token)
	r := c.e.serve(req)
	if vals, ok := r.header[tokenHeader]; ok {
		c.token = vals[0]
	}
	return r
}

func headerEnv(t *testing.T, opts ...session.Option) *env {
	e := newEnv(t, append([]session.Option{session.WithTokenHeader(tokenHeader)}, opts...)...)
	e.h = middleware.Sessions(e.m)(e.routes())
	return e
}

func TestHeaderTokenClient(t *testing.T) {
	e := headerEnv(t, session.WithKeys(make([]byte, 32), nil), session.WithRotateEvery(15*time.Minute))
	c := &apiClient{e: e}
	r := c.do("POST", "/set?k=a&v=1")
	if r.cookie != nil {
		t.Errorf("a header client was sent a cookie: %v", r.cookie)
	}
	if c.token == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("new session: token %q, Cache-Control %q", c.token, r.header.Get("Cache-Control"))
	}
	if got := c.do("GET", "/get?k=a"); got.body != "1" {
		t.Fatalf("read through the header: %q", got.body)
	} else if _, set := got.header[tokenHeader]; set {
		t.Error("an unchanged session re-sent its token")
	}

	// Login rotates; the old token is dead and the new one comes back in
	// the header.
	before := c.token
	c.do("GET", "/login?u=alice")
	if c.token == before || c.token == "" {
		t.Fatal("login did not hand a new token in the header")
	}
	old := &apiClient{e: e, token: before}
	if got := old.do("GET", "/get?k=a"); got.body != "-" {
		t.Errorf("the pre-login header token still reads the session: %q", got.body)
	}
	if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 1 {
		t.Errorf("alice's sessions: %v", infos)
	}

	// Periodic rotation forwards and hands the new token back.
	e.clock.Advance(16 * time.Minute)
	before = c.token
	if got := c.do("GET", "/get?k=a"); got.body != "1" || c.token == before {
		t.Fatalf("periodic rotation through the header: %q, rotated %v", got.body, c.token != before)
	}

	// Logout answers with an empty header.
	r = c.do("GET", "/logout")
	if vals, ok := r.header[tokenHeader]; !ok || vals[0] != "" {
		t.Errorf("logout: header %q, want present and empty", r.header[tokenHeader])
	}
}

func TestBrowserNeverGetsTheHeader(t *testing.T) {
	e := headerEnv(t)
	c := &client{e: e}
	r := c.do("POST", "/set?k=a&v=1")
	if r.cookie == nil {
		t.Fatal("a cookie client got no cookie")
	}
	if _, set := r.header[tokenHeader]; set {
		t.Error("a browser was handed its token in a header scripts can read")
	}
}

func TestHeaderTokenHostileValues(t *testing.T) {
	e := headerEnv(t)
	for _, v := range []string{"garbage", "", " ", string(make([]byte, 4096))} {
		req := newRequest("GET", "/get?k=a")
		req.Header.Set(tokenHeader, v)
		e.store.reset()
		if r := e.serve(req); r.code != http.StatusOK || r.body != "-" {
			t.Errorf("header %q: %d %q", v, r.code, r.body)
		}
		if n := e.store.n("load"); n != 0 {
			t.Errorf("header %.10q cost %d store loads", v, n)
		}
	}
}

func TestWithTokenHeaderValidates(t *testing.T) {
	for _, name := range []string{"", "Cookie", "set-cookie", "Authorization", "X Bad"} {
		if _, err := session.New(session.WithTokenHeader(name)); err == nil {
			t.Errorf("WithTokenHeader(%q) accepted", name)
		}
	}
}

// A response that carries a header client's token, or the empty header that
// ends its session, must not be cached, whatever the handler set after
// committing early: a shared cache would hand the token to every client.
func TestHeaderTokenNoStoreWinsAfterAnEarlyCommit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write bool
		end   bool
	}{{"new/write", true, false}, {"new/return", false, false}, {"ended/write", true, true}} {
		e := headerEnv(t)
		c := &apiClient{e: e}
		c.do("POST", "/set?k=a&v=1")
		if c.token == "" {
			t.Fatal("no token")
		}
		if !tc.end {
			c.token = "" // a client's first request
		}
		e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			if tc.end {
				s.Destroy()
			} else {
				s.Set("k", "v")
			}
			if err := s.Commit(w.Header()); err != nil {
				t.Error(err)
			}
			w.Header().Set("Cache-Control", "public, max-age=3600")
			if tc.write {
				w.Write([]byte("cacheable?"))
			}
		}))
		r := c.do("GET", "/")
		if _, ok := r.header[tokenHeader]; !ok {
			t.Fatalf("%s: no token header", tc.name)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q on a response that carries the token header, want no-store", tc.name, got)
		}
	}
	// A header client's response without a token keeps the handler's caching.
	e := headerEnv(t)
	c := &apiClient{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.h = wrap(e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.Get[string](session.From(r.Context()), "a")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write([]byte("1"))
	}))
	if got := c.do("GET", "/").header.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control %q on a read without a token", got)
	}
}
