package loadgen

import (
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
)

// runRate is the constant-rate (open-loop) mode: request i is due at
// start + i/Rate whether or not earlier ones have been answered, and its
// latency is measured from that intended start, not from when a connection
// was free to send it. A server that stalls for 100 ms therefore shows 100 ms
// of latency on every request due during the stall (as a user would see it),
// not on the one request that happened to be in flight: the load generator
// does not "coordinate" with the server by waiting (coordinated omission, as
// wrk2 and HdrHistogram describe it).
//
// Conns workers, each with its own keep-alive connection, take due requests
// in order; if all are busy, due requests queue and their wait counts.
func runRate(cfg Config) (Result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Conns, MaxConnsPerHost: cfg.Conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequest("GET", cfg.URL, nil)
	if err != nil {
		return Result{}, err
	}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	n := int(cfg.Duration / interval)
	if n < 1 {
		n = 1
	}
	lat := make([]time.Duration, n)
	failed := make([]bool, n)
	non2xx := make([]bool, n)
	due := make(chan int, n)
	start := time.Now().Add(10 * time.Millisecond)

	var wg sync.WaitGroup
	for range cfg.Conns {
		wg.Go(func() {
			for i := range due {
				intended := start.Add(time.Duration(i) * interval)
				r := req.Clone(req.Context())
				if len(cfg.Cookies) > 0 {
					r.Header.Set("Cookie", cfg.Cookies[i%len(cfg.Cookies)])
				}
				resp, err := client.Do(r)
				if err != nil {
					failed[i] = true
					lat[i] = time.Since(intended)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(intended)
				non2xx[i] = resp.StatusCode < 200 || resp.StatusCode > 399
			}
		})
	}
	// The dispatcher hands out every request that is due, then sleeps until
	// the next one is; a late wake-up releases a batch, and their latency
	// includes the lateness.
	for i := 0; i < n; {
		now := time.Now()
		for i < n && !start.Add(time.Duration(i)*interval).After(now) {
			due <- i
			i++
		}
		if i < n {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)

	r := Result{Tool: "go-rate", Elapsed: elapsed, Rate: cfg.Rate}
	all := make([]time.Duration, 0, n)
	for i := range n {
		switch {
		case failed[i]:
			r.Errors++
		case non2xx[i]:
			r.Non2xx++
		}
		// Failed requests count at the latency they failed after: dropping
		// them would hide exactly the slow ones.
		all = append(all, lat[i])
	}
	slices.Sort(all)
	r.Requests = int64(n)
	r.RPS = float64(n) / elapsed.Seconds()
	r.P50, r.P90, r.P99, r.P999 = percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99), percentile(all, 0.999)
	r.Max = all[len(all)-1]
	return r, nil
}

// percentile returns the q-quantile of sorted: the value at index floor(q·n),
// which is nearest rank except where q·n is whole, and one rank above it there
// (so p99 of 100 latencies is the largest, never lower than nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// RateName names the constant-rate generator for the report.
func RateName() string { return "Go constant-rate generator (" + runtime.Version() + ")" }
