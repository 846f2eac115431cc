package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/tether-go/tether/bench/loadgen"
)

// runtimeSnap is what benchserver's /runtime reports that the /none runs
// use: the collector's CPU so far and the live heap.
type runtimeSnap struct {
	gcCPU    float64 // seconds
	heapLive float64 // bytes
}

// serverRuntime reads s's /runtime (runtime/metrics of the server process).
func serverRuntime(s *server) (runtimeSnap, error) {
	resp, err := http.Get("http://" + s.admin + "/runtime")
	if err != nil {
		return runtimeSnap{}, err
	}
	defer resp.Body.Close()
	var v struct {
		GC   float64 `json:"gc_cpu_s"`
		Live float64 `json:"heap_live"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return runtimeSnap{}, fmt.Errorf("%s /runtime: %w", s.app, err)
	}
	return runtimeSnap{gcCPU: v.GC, heapLive: v.Live}, nil
}

// accounted is a load run with the server's runtime account around it.
type accounted struct {
	out    loadgen.Result
	heapMB float64 // live heap after the run
	gcNs   float64 // the collector's CPU per request during it
}

// runAccounted runs cfg against s between two reads of s's /runtime.
func runAccounted(lg loadgen.Runner, s *server, cfg loadgen.Config) (accounted, error) {
	before, err := serverRuntime(s)
	if err != nil {
		return accounted{}, err
	}
	out, err := lg.Run(cfg)
	if err != nil {
		return accounted{}, err
	}
	after, err := serverRuntime(s)
	if err != nil {
		return accounted{}, err
	}
	a := accounted{out: out, heapMB: after.heapLive / 1e6}
	if out.Requests > 0 {
		a.gcNs = (after.gcCPU - before.gcCPU) * 1e9 / float64(out.Requests)
	}
	return a, nil
}

// residentResults is the untouched route measured on the processes that
// served the write routes, per app.
type residentResults struct {
	pairs, heap, gc map[string]series
	noneGC          series // the no-library app's, in the same runs
}

// residentRepeats is how many pairs runResident runs per app, and
// residentSessions how many sessions it starts in each first.
const (
	residentRepeats  = 4
	residentSessions = 20_000
)

// runResident repeats the /none pairs on the Tether apps' main processes,
// after every round, and after starting residentSessions more sessions in
// each: the memory store and the hybrid cache keep them in the Go heap,
// so the ratio there is the untouched route's cost plus the collector's
// cost of the sessions resident in the heap, which the live heap and the
// collector's CPU per request show (tether-redis keeps them in Redis: its
// heap does not grow).
func runResident(res *httpResults, servers map[string]*server, cookies map[string][]string, lg loadgen.Runner, pin pinning, conns int, dur time.Duration) error {
	rr := &residentResults{pairs: map[string]series{}, heap: map[string]series{}, gc: map[string]series{}}
	for _, app := range tetherApps {
		if _, err := seed(servers[app], residentSessions); err != nil {
			return fmt.Errorf("%s: starting %d sessions: %w", app, residentSessions, err)
		}
	}
	for rep := range residentRepeats {
		for k, app := range tetherApps {
			pair := []string{"none", app}
			if (k+rep)%2 == 1 {
				pair[0], pair[1] = app, "none"
			}
			rps := map[string]float64{}
			for _, a := range pair {
				s := servers[a]
				time.Sleep(settle)
				nr, err := runAccounted(lg, s, loadgen.Config{URL: s.url("/none"), Cookies: cookies[a], Conns: conns, Duration: dur, CPUs: pin.load})
				if err != nil {
					return err
				}
				rps[a] = nr.out.RPS
				if a == "none" {
					rr.noneGC = append(rr.noneGC, nr.gcNs)
					continue
				}
				rr.heap[a] = append(rr.heap[a], nr.heapMB)
				rr.gc[a] = append(rr.gc[a], nr.gcNs)
				res.raw = append(res.raw, fmt.Sprintf("resident route=none app=%s rps=%.0f heap_live_mb=%.1f gc_ns_per_req=%.0f", a, nr.out.RPS, nr.heapMB, nr.gcNs))
			}
			rr.pairs[app] = append(rr.pairs[app], div(rps[app], rps["none"]))
		}
	}
	res.resident = rr
	return nil
}
