package inproc_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/redisserver"
)

// Routes are the measured routes and their paths.
var routes = []struct{ name, path, want string }{
	{"none", "/none", "ok"},
	{"read", "/read", "alice"},
	{"incr", "/incr", ""},
	{"set", "/set?k=last", "ok"},
}

var (
	redisAddr string
	mu        sync.Mutex
	running   = map[string]*running_{}
)

type running_ struct {
	app    *apps.App
	cookie string
}

func TestMain(m *testing.M) {
	redisAddr = os.Getenv("BENCH_REDIS_ADDR")
	var srv *redisserver.Server
	if redisAddr == "" {
		var err error
		if srv, err = redisserver.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "inproc: no Redis, its apps are skipped:", err)
		} else {
			redisAddr = srv.Addr
		}
	}
	code := m.Run()
	for _, r := range running {
		r.app.Close()
	}
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// app returns the named app, built and seeded on first use and kept for
// the process, so that each benchmark measures steady-state requests.
func app(b *testing.B, name string) *running_ {
	mu.Lock()
	defer mu.Unlock()
	if r, ok := running[name]; ok {
		return r
	}
	in, _ := apps.Lookup(name)
	if in.UsesRedis && redisAddr == "" {
		b.Skip("no Redis")
	}
	a, err := apps.New(name, apps.Config{RedisAddr: redisAddr, Prefix: fmt.Sprintf("inproc:%s:%d:", name, time.Now().UnixNano())})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	r := &running_{app: a}
	if in.Library != "none" {
		if r.cookie, err = apps.Seed(a.Handler); err != nil {
			b.Fatal(err)
		}
	}
	running[name] = r
	return r
}

// BenchmarkOverhead serves one request per iteration through each app, with
// an established session's cookie. Sub-benchmarks are named route/app.
//
// Besides time and allocations it reports cpu-ns/op: the CPU time of the
// whole process (every thread: the garbage collector, go-redis's
// connection handling, the system calls of the Redis round trip) per
// request. Requests run one at a time, so the load is the same for every
// app, and no HTTP server, load generator or other process shares the
// figure: what differs between apps is what their libraries cost.
//
// BENCH_ORDER_SHIFT=n rotates the order of the apps by n, so that rounds of
// the harness alternate which library runs after which.
func BenchmarkOverhead(b *testing.B) {
	order := slices.Clone(apps.All)
	if n, err := strconv.Atoi(os.Getenv("BENCH_ORDER_SHIFT")); err == nil && len(order) > 0 {
		n %= len(order)
		order = append(order[n:], order[:n]...)
	}
	for _, rt := range routes {
		cells := order
		if rt.name == "read" {
			// The limits (one Redis GET; a map read) serve /read only.
			cells = append(slices.Clone(order), apps.Limits...)
		}
		for _, in := range cells {
			b.Run(rt.name+"/"+in.Name, func(b *testing.B) {
				r := app(b, in.Name)
				h := r.app.Handler
				// Check the route does what it should before timing it.
				j := apps.Jar{Cookie: r.cookie}
				if code, body := j.Do(h, rt.path); code != http.StatusOK || (rt.want != "" && in.Library != "none" && body != rt.want) {
					b.Fatalf("%s: %d %q, want %q", rt.path, code, body, rt.want)
				}
				b.ReportAllocs()
				cpu0 := processCPU(b)
				for b.Loop() {
					req := httptest.NewRequest("GET", rt.path, nil)
					if r.cookie != "" {
						req.Header.Set("Cookie", r.cookie)
					}
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
				b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
