package tetherprom_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	tetherprom "github.com/tether-go/tether/metrics/prometheus"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/redisstore"
)

func Example() {
	c := tetherprom.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	m, err := session.New(session.WithObserver(c))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/visit", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "visits")
		s.Set("visits", n+1)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	h := middleware.Sessions(m)(mux)

	// A first visit creates a session; the second brings its cookie.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/visit", nil))
	req := httptest.NewRequest("GET", "/visit", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	h.ServeHTTP(httptest.NewRecorder(), req)

	// What Prometheus would scrape, without the zeros and the buckets.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "tether_") && !strings.HasSuffix(line, " 0\n") &&
			!strings.Contains(line, "_bucket") && !strings.Contains(line, "_sum") {
			fmt.Print(line)
		}
	}
	// Output:
	// tether_session_commit_bytes_count 2
	// tether_session_commit_keys_count 2
	// tether_session_events_total{event="created"} 1
	// tether_session_loads_total{result="hit",source="unknown"} 1
	// tether_session_store_call_duration_seconds_count{op="commit"} 2
	// tether_session_store_call_duration_seconds_count{op="load"} 1
	// tether_session_store_calls_total{op="commit",outcome="ok"} 2
	// tether_session_store_calls_total{op="load",outcome="ok"} 1
}

// A hybrid store's local tier: its hits, misses, invalidations and flushes
// are read from its Stats at every scrape.
func ExampleWithHybrid() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	rs := redisstore.New(rdb)
	defer rs.Close()
	hs := hybridstore.New(rs, hybridstore.WithMaxBytes(64<<20))
	defer hs.Close()

	c := tetherprom.New(tetherprom.WithHybrid("sessions", hs))
	prometheus.MustRegister(c)
	m, err := session.New(session.WithStore(hs), session.WithObserver(c))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	http.Handle("/metrics", promhttp.Handler())
}
