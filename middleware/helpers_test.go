package middleware_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// counting wraps a real store, counts calls by method, and can be told to
// fail them: the fault injection the memory store cannot do by itself.
type counting struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
	fail  atomic.Pointer[string] // method name to fail, or "*"
}

var errDown = fmt.Errorf("test: store down")

func (c *counting) count(op string) error {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	c.mu.Unlock()
	if f := c.fail.Load(); f != nil && (*f == op || *f == "*") {
		return errDown
	}
	return nil
}

func (c *counting) failOn(op string) { c.fail.Store(&op) }

func (c *counting) n(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op == "" {
		total := 0
		for _, v := range c.calls {
			total += v
		}
		return total
	}
	return c.calls[op]
}

func (c *counting) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
}

func (c *counting) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := c.count("load"); err != nil {
		return nil, err
	}
	return c.Store.Load(ctx, id)
}

func (c *counting) Commit(ctx context.Context, id string, ch store.Change) (store.Result, error) {
	if err := c.count("commit"); err != nil {
		return store.Result{}, err
	}
	return c.Store.Commit(ctx, id, ch)
}

func (c *counting) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := c.count("touch"); err != nil {
		return err
	}
	return c.Store.Touch(ctx, id, lastSeen, expires)
}

func (c *counting) Move(ctx context.Context, id string, m store.Moved, expires time.Time, v uint64) error {
	if err := c.count("move"); err != nil {
		return err
	}
	return c.Store.Move(ctx, id, m, expires, v)
}

func (c *counting) Delete(ctx context.Context, id string) error {
	if err := c.count("delete"); err != nil {
		return err
	}
	return c.Store.Delete(ctx, id)
}

// env is an application under the middleware with a memory store, a fake
// clock and a call-counting store.
type env struct {
	t     testing.TB
	clock *storetest.Clock
	mem   *memstore.Store
	store *counting
	m     *session.Manager
	h     http.Handler
	logs  *syncBuffer

	slowStarted chan struct{}
	slowRelease chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, opts ...session.Option) *env {
	t.Helper()
	e := &env{t: t, clock: storetest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), logs: &syncBuffer{}}
	e.mem = memstore.New(memstore.WithClock(e.clock.Now))
	t.Cleanup(func() { e.mem.Close() })
	e.store = &counting{Store: e.mem}
	base := []session.Option{
		session.WithStore(e.store),
		session.WithClock(e.clock.Now),
		session.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))),
	}
	m, err := session.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.slowStarted = make(chan struct{}, 1)
	e.slowRelease = make(chan struct{})
	e.h = middleware.Sessions(m)(e.routes())
	return e
}

func (e *env) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, ok := session.Get[string](session.From(r.Context()), r.FormValue("k"))
		if !ok {
			v = "-"
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set(r.FormValue("k"), r.FormValue("v"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(session.From(r.Context()).Keys(), ","))
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "untouched")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetUserID(r.FormValue("u"))
		s.Rotate()
		io.WriteString(w, "welcome")
	})
	mux.HandleFunc("/rotate", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Rotate()
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
	})
	mux.HandleFunc("/flash/add", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).AddFlash(r.FormValue("m"))
	})
	mux.HandleFunc("/flash", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(session.From(r.Context()).Flashes(), "|"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		session.Get[string](s, "x") // loads: the session exists now
		e.slowStarted <- struct{}{}
		<-e.slowRelease
		s.Set("late", "write")
		io.WriteString(w, "slow done")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		io.WriteString(w, "first ")
		http.NewResponseController(w).Flush()
		s.Set("after", "headers")
		io.WriteString(w, "second")
	})
	return mux
}

type resp struct {
	code   int
	body   string
	header http.Header
	cookie *http.Cookie // the session cookie set, if any
}

func newRequest(method, target string) *http.Request { return httptest.NewRequest(method, target, nil) }

// do sends a request with the given session cookie value ("" for none).
func (e *env) do(method, target, cookie string) resp {
	e.t.Helper()
	req := newRequest(method, target)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: cookie})
	}
	return e.serve(req)
}

func (e *env) serve(req *http.Request) resp {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	res := rec.Result()
	out := resp{code: res.StatusCode, body: rec.Body.String(), header: res.Header}
	for _, c := range res.Cookies() {
		if c.Name == session.DefaultCookieName {
			out.cookie = c
		}
	}
	return out
}

// client follows the cookies a browser would.
type client struct {
	e      *env
	cookie string
}

func (c *client) do(method, target string) resp {
	c.e.t.Helper()
	r := c.e.do(method, target, c.cookie)
	if r.cookie != nil {
		if r.cookie.MaxAge < 0 {
			c.cookie = ""
		} else {
			c.cookie = r.cookie.Value
		}
	}
	return r
}

func (c *client) get(target string) string {
	c.e.t.Helper()
	r := c.do("GET", target)
	if r.code != http.StatusOK {
		c.e.t.Fatalf("GET %s: status %d, body %q", target, r.code, r.body)
	}
	return r.body
}
