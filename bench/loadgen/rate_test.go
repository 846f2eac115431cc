package loadgen

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestRateCountsTheStall checks the constant-rate mode times requests from
// when they were due: a server that stalls once for 300 ms while requests
// are due every millisecond must show that stall on the ~300 requests that
// waited for it, not only on the one in flight. A closed-loop generator
// (coordinated omission) would put its p90 near the normal latency.
func TestRateCountsTheStall(t *testing.T) {
	var mu sync.Mutex
	first := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if first {
			first = false
			time.Sleep(300 * time.Millisecond)
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	r, err := goRunner{}.Run(Config{URL: srv.URL, Conns: 1, Duration: time.Second, Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 1000 || r.Errors != 0 || r.Non2xx != 0 {
		t.Fatalf("requests %d, errors %d, non-2xx %d; want 1000, 0, 0", r.Requests, r.Errors, r.Non2xx)
	}
	if r.P90 < 50*time.Millisecond || r.Max < 250*time.Millisecond {
		t.Fatalf("p90 %v, max %v: the stall is not counted against the requests that waited for it", r.P90, r.Max)
	}
	if r.Rate != 1000 || r.Tool != "go-rate" {
		t.Fatalf("result %+v", r)
	}
}

// TestRateSpreadsCookies checks requests go round robin over the cookies.
func TestRateSpreadsCookies(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Cookie")]++
		mu.Unlock()
	}))
	defer srv.Close()
	if _, err := (goRunner{}).Run(Config{URL: srv.URL, Cookies: []string{"a=1", "a=2"}, Conns: 4, Duration: 200 * time.Millisecond, Rate: 500}); err != nil {
		t.Fatal(err)
	}
	if seen["a=1"] != 50 || seen["a=2"] != 50 {
		t.Fatalf("cookies sent %v, want 50 of each", seen)
	}
}
