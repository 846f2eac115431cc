package apps_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/redisserver"
)

var redisAddr string

func TestMain(m *testing.M) {
	if srv, err := redisserver.Start(); err == nil {
		redisAddr = srv.Addr
		code := m.Run()
		srv.Stop()
		os.Exit(code)
	} else if os.Getenv("CI") == "true" {
		// As internal/testserver does: CI must not go green by skipping.
		fmt.Fprintln(os.Stderr, "apps tests: no redis-server under CI=true:", err)
		os.Exit(1)
	} else {
		fmt.Fprintln(os.Stderr, "apps tests without Redis (run `make test`, which installs it):", err)
		os.Exit(m.Run())
	}
}

func newApp(t *testing.T, name string, cfg apps.Config) *apps.App {
	t.Helper()
	in, _ := apps.Lookup(name)
	if in.UsesRedis && redisAddr == "" {
		t.Skip("no redis-server; run `make test`, which installs it")
	}
	cfg.RedisAddr = redisAddr
	cfg.Prefix = fmt.Sprintf("%s:%d:", name, time.Now().UnixNano())
	a, err := apps.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRoutes checks that every app implements the same behaviour, so the
// benchmark compares like with like.
func TestRoutes(t *testing.T) {
	for _, in := range apps.All {
		if in.Library == "none" {
			continue
		}
		t.Run(in.Name, func(t *testing.T) {
			a := newApp(t, in.Name, apps.Config{})
			var j apps.Jar
			check := func(path, want string) {
				t.Helper()
				code, body := j.Do(a.Handler, path)
				if code != http.StatusOK || body != want {
					t.Fatalf("%s: %d %q, want 200 %q", path, code, body, want)
				}
			}
			check("/read", "")
			check("/seed", "ok")
			if j.Cookie == "" {
				t.Fatal("no cookie after /seed")
			}
			check("/read", "alice")
			check("/incr", "1")
			check("/incr", "2")
			check("/set?k=k1", "ok")
			check("/set?k=k2", "ok")
			check("/keys?prefix=k", "2")
			check("/none", "ok")
			old := j.Cookie
			check("/login", "ok")
			if j.Cookie == old && in.Store != "cookie" {
				t.Fatal("/login did not change the cookie")
			}
			check("/read", "alice")
			check("/incr", "3")
			if in.Store != "cookie" {
				stale := apps.Jar{Cookie: old}
				if code, body := stale.Do(a.Handler, "/read"); code != http.StatusOK || body != "" {
					t.Fatalf("old cookie after login: %d %q, want a logged-out read", code, body)
				}
			}
			if !strings.HasPrefix(j.Cookie, apps.CookieName+"=") {
				t.Fatalf("cookie %q", j.Cookie)
			}
		})
	}
}

// TestPeriodicRotation checks Tether's periodic rotation forwards the old
// cookie during the grace period.
func TestPeriodicRotation(t *testing.T) {
	a := newApp(t, "tether-redis", apps.Config{RotateEvery: 50 * time.Millisecond})
	old, err := apps.Seed(a.Handler)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	j := apps.Jar{Cookie: old}
	if code, body := j.Do(a.Handler, "/read"); code != 200 || body != "alice" || j.Cookie == old {
		t.Fatalf("rotating read: %d %q, cookie changed: %v", code, body, j.Cookie != old)
	}
	j2 := apps.Jar{Cookie: old}
	if code, body := j2.Do(a.Handler, "/read"); code != 200 || body != "alice" {
		t.Fatalf("old cookie in grace: %d %q", code, body)
	}
}

// TestHybridMiss checks the miss variant serves every read from Redis.
func TestHybridMiss(t *testing.T) {
	a := newApp(t, apps.HybridMiss.Name, apps.Config{})
	cookie, err := apps.Seed(a.Handler)
	if err != nil {
		t.Fatal(err)
	}
	j := apps.Jar{Cookie: cookie}
	j.Do(a.Handler, "/read")
	a.Counter.Reset()
	for range 3 {
		if code, body := j.Do(a.Handler, "/read"); code != http.StatusOK || body != "alice" {
			t.Fatalf("/read: %d %q", code, body)
		}
	}
	if _, rt := a.Counter.Snapshot(); rt != 3 {
		t.Fatalf("3 reads made %d round trips, want 3 (every read a miss)", rt)
	}
}

// TestLimits checks the limit apps serve what the session apps serve on
// /read, and that limit-redis makes exactly one round trip, a GET.
func TestLimits(t *testing.T) {
	for _, in := range apps.Limits {
		t.Run(in.Name, func(t *testing.T) {
			a := newApp(t, in.Name, apps.Config{})
			var j apps.Jar
			if code, body := j.Do(a.Handler, "/read"); code != http.StatusOK || body != "" {
				t.Fatalf("/read without a cookie: %d %q", code, body)
			}
			cookie, err := apps.Seed(a.Handler)
			if err != nil {
				t.Fatal(err)
			}
			if a.Counter != nil {
				a.Counter.Reset()
			}
			j = apps.Jar{Cookie: cookie}
			if code, body := j.Do(a.Handler, "/read"); code != http.StatusOK || body != "alice" {
				t.Fatalf("/read: %d %q, want 200 alice", code, body)
			}
			if a.Counter != nil {
				cmds, rt := a.Counter.Snapshot()
				if rt != 1 || cmds["get"] != 1 || len(cmds) != 1 {
					t.Fatalf("limit-redis /read sent %v in %d round trips, want one GET", cmds, rt)
				}
			}
		})
	}
}

// TestNoneContext checks that the floor app does what a session middleware
// must on a route that ignores the session (a value in the request's context,
// a wrapped writer) and answers as the no-library app does: without it, its
// ratio would measure nothing.
func TestNoneContext(t *testing.T) {
	a := newApp(t, apps.NoneContext.Name, apps.Config{})
	for _, path := range []string{"/none", "/read", "/set?k=a"} {
		var j apps.Jar
		if code, body := j.Do(a.Handler, path); code != http.StatusOK || body != "ok" {
			t.Fatalf("%s: %d %q, want 200 \"ok\"", path, code, body)
		}
	}
	var sawValue, wrapped bool
	h := apps.ContextFloor(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawValue = apps.FloorValue(r.Context()) != nil
		_, wrapped = w.(interface{ Unwrap() http.ResponseWriter })
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/none", nil))
	if !sawValue || !wrapped {
		t.Fatalf("handler saw a context value %v, a wrapped writer %v; want both", sawValue, wrapped)
	}
}
