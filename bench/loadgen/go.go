package loadgen

import (
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"
)

// goRunner is the fallback load generator: Conns goroutines, each with its
// own keep-alive connection, sending requests back to back for Duration.
type goRunner struct{}

func (goRunner) Name() string { return "Go load generator (" + runtime.Version() + ")" }

func (goRunner) Run(cfg Config) (Result, error) {
	cfg.defaults()
	if cfg.Rate > 0 {
		return runRate(cfg)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Conns, MaxConnsPerHost: cfg.Conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	req, err := http.NewRequest("GET", cfg.URL, nil)
	if err != nil {
		return Result{}, err
	}
	type part struct {
		lat            []time.Duration
		errors, non2xx int64
	}
	parts := make([]part, cfg.Conns)
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for c := range cfg.Conns {
		wg.Go(func() {
			p := &parts[c]
			i := rand.IntN(max(len(cfg.Cookies), 1))
			for time.Now().Before(deadline) {
				r := req.Clone(req.Context())
				if len(cfg.Cookies) > 0 {
					i = (i + 1) % len(cfg.Cookies)
					r.Header.Set("Cookie", cfg.Cookies[i])
				}
				t0 := time.Now()
				resp, err := client.Do(r)
				if err != nil {
					p.errors++
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				p.lat = append(p.lat, time.Since(t0))
				if resp.StatusCode < 200 || resp.StatusCode > 399 {
					p.non2xx++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	r := Result{Tool: "go", Elapsed: elapsed}
	for _, p := range parts {
		all = append(all, p.lat...)
		r.Errors += p.errors
		r.Non2xx += p.non2xx
	}
	slices.Sort(all)
	r.Requests = int64(len(all))
	r.RPS = float64(r.Requests) / elapsed.Seconds()
	pct := func(q float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(q*float64(len(all))))]
	}
	r.P50, r.P90, r.P99, r.P999 = pct(0.50), pct(0.90), pct(0.99), pct(0.999)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	return r, nil
}
