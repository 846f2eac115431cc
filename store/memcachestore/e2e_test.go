package memcachestore_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// app is an application under the session middleware, on a given store.
type app struct {
	t testing.TB
	h http.Handler
	m *session.Manager
}

func newApp(t testing.TB, st store.Store) *app {
	t.Helper()
	m, err := session.New(
		session.WithStore(st),
		session.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, ok := session.Get[string](session.From(r.Context()), r.FormValue("k"))
		if !ok {
			v = "-"
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("/grow", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.FormValue("n"))
		session.From(r.Context()).Set(r.FormValue("k"), strings.Repeat("x", n))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetUserID(r.FormValue("u"))
		s.Rotate()
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
	})
	mux.HandleFunc("/visit", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "visits")
		s.Set("visits", n+1)
		fmt.Fprint(w, n+1)
	})
	return &app{t: t, h: middleware.Sessions(m)(mux), m: m}
}

type resp struct {
	code   int
	body   string
	cookie *http.Cookie
}

func (a *app) do(method, target, cookie string) resp {
	req := httptest.NewRequest(method, target, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: cookie})
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	res := rec.Result()
	out := resp{code: res.StatusCode, body: rec.Body.String()}
	for _, c := range res.Cookies() {
		if c.Name == session.DefaultCookieName {
			out.cookie = c
		}
	}
	return out
}

// newSession makes a session with one value and returns its cookie.
func (a *app) newSession() string {
	a.t.Helper()
	r := a.do("POST", "/set?k=init&v=1", "")
	if r.code != http.StatusOK || r.cookie == nil {
		a.t.Fatalf("creating a session: status %d, cookie %v", r.code, r.cookie)
	}
	return r.cookie.Value
}

// memcachedClient returns a client of the test servers. Its timeout is
// generous: the race detector on a shared machine can stall a command past
// gomemcache's default 500ms, which is not what these tests are about.
func memcachedClient(t testing.TB, addrs ...string) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = 5 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// A session that grows past the item limit: the request that crosses it gets
// a 5xx, and every value acknowledged before stays readable. Both limits are
// checked: the store's own (refused before anything is sent) and a server's
// -I below the store's limit (refused by memcached, which keeps the old item
// on a failed cas).
func TestSessionGrowsPastItemLimit(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-I", "64k", "-o", "slab_chunk_max=32768"))
	client := memcachedClient(t, srv.Addr())
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{"StoreLimit", 48 << 10},
		{"ServerLimit", 1 << 20}, // the store would send it; the server's -I 64k refuses
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()), memcachestore.WithMaxItemSize(tc.limit)))
			ck := a.newSession()
			var acked []string
			crossed := false
			for i := range 100 {
				key := fmt.Sprintf("chunk-%d", i)
				r := a.do("POST", "/grow?n=4000&k="+key, ck)
				if r.code == http.StatusOK {
					acked = append(acked, key)
					continue
				}
				if r.code < 500 {
					t.Fatalf("write %d: status %d, want 200 or a 5xx", i, r.code)
				}
				if r.cookie != nil {
					t.Errorf("the failed write changed the cookie: %v", r.cookie)
				}
				crossed = true
				if got := a.do("GET", "/get?k="+key, ck).body; got != "-" {
					t.Errorf("the refused value is readable (%d bytes)", len(got))
				}
				break
			}
			if !crossed {
				t.Fatal("the session never crossed the item limit")
			}
			if len(acked) < 5 {
				t.Fatalf("only %d writes succeeded before the limit", len(acked))
			}
			for _, key := range acked {
				r := a.do("GET", "/get?k="+key, ck)
				if r.code != http.StatusOK || len(r.body) != 4000 {
					t.Errorf("acknowledged %s after the refused write: status %d, %d bytes", key, r.code, len(r.body))
				}
			}
			// The session is still usable for what fits.
			if r := a.do("POST", "/set?k=small&v=ok", ck); r.code != http.StatusOK {
				t.Errorf("small write after the refused one: status %d", r.code)
			}
			if got := a.do("GET", "/get?k=small", ck).body; got != "ok" {
				t.Errorf("small value read back %q", got)
			}
		})
	}
}

// 100 requests of one session writing different keys at the same moment: the
// compare-and-swap loop must lose none of them, and none may fail.
func TestConcurrentDisjointWrites(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcachedClient(t, srv.Addr())
	client.MaxIdleConns = 100
	a := newApp(t, memcachestore.New(client, memcachestore.WithKeyPrefix(prefix())))
	ck := a.newSession()

	const writers = 100
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]int, writers)
	for i := range writers {
		wg.Go(func() {
			<-start
			codes[i] = a.do("POST", fmt.Sprintf("/set?k=key-%d&v=%d", i, i), ck).code
		})
	}
	close(start)
	wg.Wait()
	failed := 0
	for _, c := range codes {
		if c != http.StatusOK {
			failed++
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d concurrent writes failed", failed, writers)
	}
	lost := 0
	for i := range writers {
		if got := a.do("GET", fmt.Sprintf("/get?k=key-%d", i), ck).body; codes[i] == http.StatusOK && got != strconv.Itoa(i) {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, writers)
	}
}

// A memcached restart loses every session. Clients come back to fresh
// sessions with 200s, not errors, even though every idle connection of the
// client died with the old server process; while the server is down,
// requests fail loudly (503), never as "logged out".
func TestRestart(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcachedClient(t, srv.Addr())
	client.MaxIdleConns = 16 // many idle connections to go stale at once
	a := newApp(t, memcachestore.New(client, memcachestore.WithKeyPrefix(prefix())))

	const users = 20
	cookies := make([]string, users)
	for i := range cookies {
		cookies[i] = a.newSession()
		for range 2 {
			if r := a.do("GET", "/visit", cookies[i]); r.code != http.StatusOK {
				t.Fatalf("visit before the restart: status %d", r.code)
			}
		}
	}
	// Fill the client's idle pool.
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() { a.do("GET", "/get?k=init", cookies[i]) })
	}
	wg.Wait()

	srv.Stop()
	if r := a.do("GET", "/visit", cookies[0]); r.code != http.StatusServiceUnavailable {
		t.Errorf("request while memcached is down: status %d, want 503", r.code)
	}
	srv.Start()

	// Everyone at once, as after a real restart.
	results := make([]resp, users)
	for i := range users {
		wg.Go(func() { results[i] = a.do("GET", "/visit", cookies[i]) })
	}
	wg.Wait()
	for i, r := range results {
		switch {
		case r.code != http.StatusOK:
			t.Errorf("user %d after the restart: status %d %q, want 200", i, r.code, r.body)
		case r.body != "1":
			t.Errorf("user %d after the restart: visit %s, want 1 (a fresh session)", i, r.body)
		case r.cookie == nil || r.cookie.Value == cookies[i] || r.cookie.MaxAge < 0:
			t.Errorf("user %d after the restart: cookie %v, want a new session cookie", i, r.cookie)
		default:
			cookies[i] = r.cookie.Value
		}
	}
	for i := range users {
		if r := a.do("GET", "/visit", cookies[i]); r.code != http.StatusOK || r.body != "2" {
			t.Errorf("user %d, second request after the restart: status %d, visit %q; want 200, 2", i, r.code, r.body)
		}
	}
}

// "Log out everywhere" on memcached, through the session layer: logins rotate
// the token (a create and a move), a logout deletes; the index follows, on two
// servers.
func TestLogOutEverywhere(t *testing.T) {
	t.Parallel()
	a1, a2 := testserver.Memcached(t), testserver.Memcached(t)
	client := memcachedClient(t, a1.Addr(), a2.Addr())
	a := newApp(t, memcachestore.New(client, memcachestore.WithKeyPrefix(prefix())))
	ctx := t.Context()

	const devices = 4
	cookies := make([]string, devices)
	for i := range cookies {
		ck := a.newSession()
		r := a.do("POST", "/login?u=zoe", ck)
		if r.code != http.StatusOK || r.cookie == nil || r.cookie.Value == ck {
			t.Fatalf("login: status %d, cookie %v; want a rotated cookie", r.code, r.cookie)
		}
		cookies[i] = r.cookie.Value
	}
	if infos, err := a.m.UserSessions(ctx, "zoe"); err != nil || len(infos) != devices {
		t.Fatalf("UserSessions = %d sessions, %v; want %d", len(infos), err, devices)
	}
	if r := a.do("POST", "/logout", cookies[0]); r.code != http.StatusOK {
		t.Fatalf("logout: status %d", r.code)
	}
	if infos, err := a.m.UserSessions(ctx, "zoe"); err != nil || len(infos) != devices-1 {
		t.Fatalf("UserSessions after one logout = %d sessions, %v; want %d", len(infos), err, devices-1)
	}
	if n, err := a.m.DestroyUser(ctx, "zoe"); err != nil || n != devices-1 {
		t.Fatalf("DestroyUser = %d, %v; want %d", n, err, devices-1)
	}
	for i, ck := range cookies {
		if r := a.do("GET", "/get?k=init", ck); r.code != http.StatusOK || r.body != "-" {
			t.Errorf("device %d after DestroyUser: status %d, init=%q; want 200 and no session", i, r.code, r.body)
		}
	}
	if infos, err := a.m.UserSessions(ctx, "zoe"); err != nil || len(infos) != 0 {
		t.Errorf("UserSessions after DestroyUser = %v, %v; want none", infos, err)
	}
}
