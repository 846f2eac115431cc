package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-go/tether/bench/loadgen"
)

// peersOf are the peers each Tether app is compared with: same kind of
// deployment (no external store; Redis).
var peersOf = map[string][]string{
	"tether-memory": {"scs-memory", "gorilla-cookie"},
	"tether-redis":  {"scs-redis", "gorilla-redis"},
	"tether-hybrid": {"scs-redis", "gorilla-redis"},
}

var tetherApps = []string{"tether-memory", "tether-redis", "tether-hybrid"}

// behind is one measured path where Tether's median is worse than a peer's.
type behind struct {
	metric     string // "in-process ns/op", "in-process allocs/op", "HTTP req/s", "HTTP p99"
	route, app string
	peer       string
	tether     float64
	peerVal    float64
	ratio      series // Tether ÷ peer, per round
	overlap    bool   // in some round Tether was not behind: within the noise
	profileKey string
}

// findBehind lists every path where a Tether app's median per-round ratio
// to the best of its peers is worse than 3 % (allocations: any). Within
// noise: in at least one round Tether was not behind.
func (rep *report) findBehind() {
	for _, app := range tetherApps {
		for _, route := range inprocRoutes {
			t := rep.inproc.stats[key{route, app}]
			if t == nil {
				continue
			}
			for _, m := range []struct {
				name string
				get  func(*inprocStat) series
				tol  float64
			}{
				{"in-process ns/op", func(s *inprocStat) series { return s.ns }, 0.03},
				{"in-process allocs/op", func(s *inprocStat) series { return s.allocs }, 0},
			} {
				best, bestName := 0.0, ""
				for _, p := range peersOf[app] {
					if ps := rep.inproc.stats[key{route, p}]; ps != nil {
						if v := m.get(ps).median(); bestName == "" || v < best {
							best, bestName = v, p
						}
					}
				}
				if bestName == "" {
					continue
				}
				r := paired(m.get(t), m.get(rep.inproc.stats[key{route, bestName}]), div)
				if r.median() > 1+m.tol {
					rep.behind = append(rep.behind, behind{metric: m.name, route: route, app: app, peer: bestName,
						tether: m.get(t).median(), peerVal: best, ratio: r, overlap: r.min() <= 1,
						profileKey: "inproc/" + route + "/" + app})
				}
			}
		}
		for _, rt := range httpRoutes {
			t := rep.http.stats[key{rt.name, app}]
			if t == nil {
				continue
			}
			for _, m := range []struct {
				name        string
				get         func(*httpStat) series
				lowerBetter bool
			}{
				{"HTTP req/s", func(s *httpStat) series { return s.rps }, false},
				{"HTTP p99 latency", func(s *httpStat) series { return s.p99 }, true},
			} {
				best, bestName := 0.0, ""
				for _, p := range peersOf[app] {
					if ps := rep.http.stats[key{rt.name, p}]; ps != nil {
						v := m.get(ps).median()
						if bestName == "" || (m.lowerBetter && v < best) || (!m.lowerBetter && v > best) {
							best, bestName = v, p
						}
					}
				}
				if bestName == "" {
					continue
				}
				r := paired(m.get(t), m.get(rep.http.stats[key{rt.name, bestName}]), div)
				worse, overlap := r.median() < 0.97, r.max() >= 1
				if m.lowerBetter {
					worse, overlap = r.median() > 1.03, r.min() <= 1
				}
				if worse {
					rep.behind = append(rep.behind, behind{metric: m.name, route: rt.name, app: app, peer: bestName,
						tether: m.get(t).median(), peerVal: best, ratio: r, overlap: overlap,
						profileKey: "http/" + rt.name + "/" + app})
				}
			}
		}
	}
}

// profile takes one profile per path in rep.behind: go test -cpuprofile and
// -memprofile of the in-process benchmark, or a CPU profile of the server
// under wrk for an HTTP path; and keeps `go tool pprof -top` of each.
func (rep *report) profile(inprocBin, serverBin, redisAddr string, servers map[string]*server,
	cookies map[string][]string, lg loadgen.Runner, pin pinning, work string) error {
	rep.profiles = map[string]string{}
	dir, err := filepath.Abs(filepath.Join(rep.opts.results, "profiles"))
	if err != nil {
		return err
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The untouched route of every Tether app is profiled, behind or not:
	// its target asks for a resolution finer than the req/s runs have, and
	// the profile measures Tether's share of the server's CPU directly.
	todo := slices.Clone(rep.behind)
	for _, app := range tetherApps {
		todo = append(todo, behind{route: noneRoute, app: app, profileKey: "http/" + noneRoute + "/" + app})
	}
	// So are the reads compared with a limit, and the limits: the two
	// profiles side by side show where the gap between them goes.
	for _, l := range limitPairs {
		for _, app := range []string{l.app, l.limit} {
			todo = append(todo, behind{route: "read", app: app, profileKey: "http/read/" + app})
		}
	}
	rep.noneShare = map[string]float64{}
	rep.readSplit = map[string]cpuSplit{}
	for _, b := range todo {
		if _, done := rep.profiles[b.profileKey]; done || b.metric == "HTTP p99 latency" {
			// p99 on a shared loopback machine is mostly scheduling; a
			// CPU profile would not show why. req/s paths are profiled.
			continue
		}
		var text string
		var err error
		if strings.HasPrefix(b.profileKey, "inproc/") {
			text, err = profileInproc(inprocBin, redisAddr, b.route, b.app, dir)
		} else {
			sk := serverKey(servers, b.route, b.app) // the process the target measured
			text, err = profileHTTP(servers[sk], cookies[sk], lg, pin, b.route, dir)
		}
		if err != nil {
			// A failed profile must not cost the run: say so in the report.
			text = fmt.Sprintf("profile failed: %v\n", err)
		}
		rep.profiles[b.profileKey] = text
		progress("profiled %s", b.profileKey)
		if err == nil && b.route == "read" && slices.ContainsFunc(limitPairs, func(l struct{ app, limit string }) bool { return l.app == b.app || l.limit == b.app }) {
			if sp, err := cpuSplitOf(filepath.Join(dir, "http-read-"+b.app+".cpu.prof")); err != nil {
				progress("%s: %v", b.profileKey, err)
			} else {
				rep.readSplit[b.app] = sp
			}
		}
		if err == nil && b.profileKey == "http/"+noneRoute+"/"+b.app {
			share, err := middlewareShare(filepath.Join(dir, "http-"+noneRoute+"-"+b.app+".cpu.prof"))
			if err != nil {
				progress("%s: %v", b.profileKey, err)
				continue
			}
			rep.noneShare[b.app] = share
		}
	}
	return nil
}

func profileInproc(bin, redisAddr, route, app, dir string) (string, error) {
	base := filepath.Join(dir, "inproc-"+route+"-"+app)
	cpu, mem := base+".cpu.prof", base+".mem.prof"
	bench := "-test.bench=^BenchmarkOverhead$/^" + route + "$/^" + app + "$"
	// Two runs: recording every allocation (memprofilerate=1) slows the
	// benchmark down and would distort the CPU profile.
	for _, args := range [][]string{
		{"-test.run=^$", bench, "-test.benchmem", "-test.benchtime=2s", "-test.cpuprofile=" + cpu},
		{"-test.run=^$", bench, "-test.benchmem", "-test.benchtime=2000x", "-test.memprofile=" + mem, "-test.memprofilerate=1"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "BENCH_REDIS_ADDR="+redisAddr)
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%v: %s", err, out)
		}
	}
	pattern := fmt.Sprintf("'^BenchmarkOverhead$/^%s$/^%s$'", route, app)
	top, err := pprofTop(bin, cpu, "-top", "-nodecount=15")
	if err != nil {
		return "", err
	}
	cum, err := pprofTop(bin, cpu, "-top", "-cum", "-focus="+tetherFocus, "-nodecount=30")
	if err != nil {
		return "", err
	}
	allocs, err := pprofTop(bin, mem, "-top", "-sample_index=alloc_objects", "-focus="+tetherFocus, "-nodecount=25")
	if err != nil {
		return "", err
	}
	return "$ inproc.test -test.bench=" + pattern + " -test.benchtime=2s -test.cpuprofile=cpu.prof\n" +
		"$ inproc.test -test.bench=" + pattern + " -test.benchtime=2000x -test.memprofile=mem.prof -test.memprofilerate=1\n" +
		"\n$ go tool pprof -top -nodecount=15 inproc.test cpu.prof\n" + top +
		"\n$ go tool pprof -top -cum -focus='" + tetherFocus + "' -nodecount=30 inproc.test cpu.prof\n" + cum +
		"\n$ go tool pprof -top -sample_index=alloc_objects -focus='" + tetherFocus + "' -nodecount=25 inproc.test mem.prof\n" + allocs, nil
}

func profileHTTP(s *server, cookies []string, lg loadgen.Runner, pin pinning, route, dir string) (string, error) {
	path := ""
	for _, rt := range httpRoutes {
		if rt.name == route {
			path = rt.path
		}
	}
	prof := filepath.Join(dir, "http-"+route+"-"+s.app+".cpu.prof")
	var wg sync.WaitGroup
	var lgErr error
	wg.Go(func() {
		_, lgErr = lg.Run(loadgen.Config{URL: s.url(path), Cookies: cookies, Duration: httpProfileTime + time.Second, CPUs: pin.load})
	})
	time.Sleep(500 * time.Millisecond)
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.admin, int(httpProfileTime/time.Second)))
	if err == nil {
		var f *os.File
		if f, err = os.Create(prof); err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		resp.Body.Close()
	}
	wg.Wait()
	if err != nil {
		return "", err
	}
	if lgErr != nil {
		return "", lgErr
	}
	top, err := pprofTop("", prof, "-top", "-nodecount=15")
	if err != nil {
		return "", err
	}
	cum, err := pprofTop("", prof, "-top", "-cum", "-focus="+tetherFocus, "-nodecount=30")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$ curl %s/debug/pprof/profile?seconds=%d > cpu.prof   # benchserver -app %s under wrk on %s\n", "<admin>", int(httpProfileTime/time.Second), s.app, path) +
		"\n$ go tool pprof -top -nodecount=15 cpu.prof\n" + top +
		"\n$ go tool pprof -top -cum -focus='" + tetherFocus + "' -nodecount=30 cpu.prof\n" + cum, nil
}

// httpProfileTime is the length of a server's CPU profile under load: at
// 100 samples a second, long enough to resolve a share of one percent.
const httpProfileTime = 10 * time.Second

// middlewareShare returns the fraction of a server's CPU samples spent in
// Tether's middleware apart from the handler it wraps (the app's ServeMux):
// on a route that ignores the session, all that Tether costs the process.
func middlewareShare(prof string) (float64, error) {
	out, err := pprofTop("", prof, "-top", "-cum", "-focus=middleware\\.Sessions", "-ignore=ServeMux", "-nodecount=50")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 6 && strings.HasPrefix(f[5], "github.com/tether-go/tether/middleware.Sessions.func") {
			pct, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
			return pct / 100, err
		}
	}
	return 0, fmt.Errorf("middleware.Sessions not found in the profile %s", prof)
}

// cpuSplit is the share of a CPU profile's samples in Tether's own code
// (and what it calls), and in allocation and garbage collection.
type cpuSplit struct{ tether, gc float64 }

// gcFocus keeps the samples that allocate or collect: mallocgc (with the
// assists it makes), the background mark workers and the sweeper.
const gcFocus = `runtime\.(mallocgc|gcBgMarkWorker|bgsweep|gcAssistAlloc)`

func cpuSplitOf(prof string) (cpuSplit, error) {
	t, err := cpuShare(prof, tetherFocus)
	if err != nil {
		return cpuSplit{}, err
	}
	g, err := cpuShare(prof, gcFocus)
	return cpuSplit{tether: t, gc: g}, err
}

// cpuShare is the share of prof's samples with a frame matching focus: with
// every node kept, pprof's "Showing nodes accounting for" line sums the
// flat time of all of them, which is every sample the focus kept ("0, 0%"
// when it kept none).
func cpuShare(prof, focus string) (float64, error) {
	out, err := pprofTop("", prof, "-top", "-focus="+focus, "-nodefraction=0", "-nodecount=1000000")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		_, rest, ok := strings.Cut(line, "Showing nodes accounting for ")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "1.13s," "11.46%" "of" "9.86s" "total"
		if len(f) >= 2 {
			pct, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
			return pct / 100, err
		}
	}
	return 0, fmt.Errorf("no share in the pprof output for %s", prof)
}

// tetherFocus keeps the samples under Tether's own packages.
const tetherFocus = `tether-go/tether/(session|middleware|store)`

func pprofTop(bin, prof string, args ...string) (string, error) {
	full := append([]string{"tool", "pprof"}, args...)
	if bin != "" {
		full = append(full, bin)
	}
	full = append(full, prof)
	out, err := exec.Command("go", full...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %v: %s", strings.Join(full, " "), err, out)
	}
	return string(out), nil
}
