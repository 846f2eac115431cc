package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
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

// residentRounds is how many rounds of slices runResident runs, and
// residentSessions how many sessions it starts in each app first.
const (
	residentRounds   = 60
	residentSessions = 20_000
)

// runResident repeats the /none comparison on the Tether apps' main
// processes, after the HTTP rounds, and after starting residentSessions more
// sessions in each: the memory store and the hybrid cache keep them in the
// Go heap, so the ratio there is the untouched route's cost plus the
// collector's cost of the sessions resident in the heap, which the live
// heap and the collector's CPU per request show (tether-redis keeps them in
// Redis: its heap does not grow). It is measured in slices, as
// runNoneSlices measures the target.
func runResident(res *httpResults, servers map[string]*server, cookies map[string][]string, pin pinning, conns int, slice time.Duration) error {
	for _, app := range tetherApps {
		if _, err := seed(servers[app], residentSessions); err != nil {
			return fmt.Errorf("%s: starting %d sessions: %w", app, residentSessions, err)
		}
	}
	names := append([]string{"none"}, tetherApps...)
	out, err := sliceRun("resident", names, names, servers, cookies, pin, conns, residentRounds, slice)
	if err != nil {
		return err
	}
	res.raw = append(res.raw, out.raw...)
	res.resident = &out
	return nil
}
