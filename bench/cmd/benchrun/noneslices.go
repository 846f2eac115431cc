package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/loadgen"
)

// runNoneSlices measures the route that ignores the session, for its target
// (≥ 0.97× the no-library app): every app's /none process and the
// no-library app's, under load one at a time in slices of a fraction of a
// second, in an order shuffled each round (loadgen.Slices); an app's ratio
// in a round is its requests over the no-library app's in that round.
//
// Runs of seconds per app, even in pairs with the no-library app back to
// back, read that ratio to ±20 % per pair on this machine (0.77–1.43 in the
// 2026-12-07 run), and their median moved by 2–3 % between runs of the same
// code, the size of the difference the target is about. In 100 ms slices
// (bench/loadgen's Slices, 2026-12-07, five runs of 80–100 rounds) one
// round's ratio spreads by ±1.5 % (the middle half of the rounds), and the
// median of a second no-library process read 0.996–1.006.
func runNoneSlices(res *httpResults, servers map[string]*server, cookies map[string][]string, pin pinning, conns, rounds int, slice time.Duration) error {
	names := []string{"none"}
	for _, in := range apps.HTTPApps() {
		if in.Library != "limit" && in.Name != "none" {
			names = append(names, in.Name)
		}
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = serverKey(servers, noneRoute, n)
	}
	out, err := sliceRun("none-slices", names, keys, servers, cookies, pin, conns, rounds, slice)
	if err != nil {
		return err
	}
	res.none = out
	res.raw = append(res.raw, out.raw...)
	res.noneSlice = slice
	res.noneCmd = fmt.Sprintf("every app's `/none` process and the no-library app's in turn, %s each, in an order shuffled every round, %d rounds (%v in all), %d keep-alive connections per app, %d cookies (sessions) per app used round robin; the load generator: loadgen.Slices (%s, requests written by hand over persistent connections), in the harness's process; %s",
		dur(float64(slice)), rounds, out.elapsed.Round(time.Second), conns, len(cookies[keys[1]]), runtime.Version(), pin)
	return nil
}

// sliced is what sliceRun measured, per app, from the Go runtime's own
// account for the heap and the collector (benchserver's /runtime).
type sliced struct {
	ratios  map[string]series  // per round, ÷ the first app's requests in that round
	heapMB  map[string]float64 // live heap after the run
	gcNs    map[string]float64 // the collector's CPU per request served
	raw     []string
	elapsed time.Duration
}

// sliceRun runs /none on the servers keys (the apps names, the baseline
// first) in turn with loadgen.Slices, after a second of load on each, and
// reads each server's runtime account around the run. The load generator
// runs in this process, pinned to the load CPU for the run like wrk is for
// its own.
func sliceRun(label string, names, keys []string, servers map[string]*server, cookies map[string][]string, pin pinning, conns, rounds int, slice time.Duration) (sliced, error) {
	var (
		targets []loadgen.Target
		before  []runtimeSnap
	)
	for _, k := range keys {
		targets = append(targets, loadgen.Target{Addr: servers[k].addr, Path: "/none", Cookies: cookies[k]})
	}
	if err := pinProcess(pin.load, os.Getpid()); err != nil {
		return sliced{}, err
	}
	defer pinProcess(pin.all, os.Getpid())
	if _, err := loadgen.Slices(loadgen.SlicesConfig{Targets: targets, Conns: conns, Slice: time.Second, Rounds: 1}); err != nil {
		return sliced{}, err
	}
	for _, k := range keys {
		snap, err := serverRuntime(servers[k])
		if err != nil {
			return sliced{}, err
		}
		before = append(before, snap)
	}
	start := time.Now()
	out, err := loadgen.Slices(loadgen.SlicesConfig{Targets: targets, Conns: conns, Slice: slice, Rounds: rounds, Seed: 0x7e7e})
	if err != nil {
		return sliced{}, err
	}
	elapsed := time.Since(start)
	// First, since it fails a run in which a slice served nothing: every
	// target has served requests below.
	ratios, raw, err := sliceRatios(label, names, out, slice)
	if err != nil {
		return sliced{}, err
	}
	res := sliced{ratios: ratios, heapMB: map[string]float64{}, gcNs: map[string]float64{}, raw: raw, elapsed: elapsed}
	for i, k := range keys {
		after, err := serverRuntime(servers[k])
		if err != nil {
			return sliced{}, err
		}
		res.heapMB[names[i]] = after.heapLive / 1e6
		res.gcNs[names[i]] = (after.gcCPU - before[i].gcCPU) * 1e9 / float64(out.Served[i])
	}
	return res, nil
}

// sliceRatios is each app's ratio to names[0] in every round of out (index
// r of every series is round r, for paired), and the raw lines, with the
// order each round ran in. A slice in which a target completed no request
// is a stall, not a throughput, and fails the run: as a ratio it would read
// 0, for every app at once if the baseline stalled.
func sliceRatios(label string, names []string, out loadgen.SlicesResult, slice time.Duration) (map[string]series, []string, error) {
	ratios := map[string]series{}
	var raw []string
	for r, counts := range out.Counts {
		var line, order []string
		for i, n := range names {
			if counts[i] == 0 {
				return nil, nil, fmt.Errorf("%s: %s completed no request in its %v slice of round %d", label, n, slice, r+1)
			}
			line = append(line, fmt.Sprintf("%s=%d", n, counts[i]))
			if i > 0 {
				ratios[n] = append(ratios[n], float64(counts[i])/float64(counts[0]))
			}
		}
		for _, i := range out.Order[r] {
			order = append(order, names[i])
		}
		raw = append(raw, fmt.Sprintf("%s round=%d slice=%v %s order=%s", label, r+1, slice, strings.Join(line, " "), strings.Join(order, ",")))
	}
	return ratios, raw, nil
}
