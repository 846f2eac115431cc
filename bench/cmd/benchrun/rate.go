package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/loadgen"
)

// The constant-rate run (issue 20): every app and route at the same fixed
// request rate, below every app's saturation, so that the load is held
// equal and what differs is what each library costs per request:
//
//   - latency percentiles timed from each request's due time (loadgen's
//     constant-rate mode, safe from coordinated omission);
//   - the app process' CPU time per request, from its own counters
//     (getrusage through benchserver's admin /cpu);
//   - redis-server's CPU time per request (INFO cpu) and per command
//     (INFO commandstats usec_per_call after CONFIG RESETSTAT).

// rateRoutes are the constant-rate cells' routes; apps lists who runs them.
var rateRoutes = []struct {
	name, path string
	apps       func() []apps.Info
}{
	{"read", "/read", func() []apps.Info {
		out := append([]apps.Info{}, sessionApps()...)
		out = append(out, apps.HybridMiss)
		return append(out, apps.Limits...)
	}},
	{"incr", "/incr", sessionApps},
}

// sessionApps are the apps of All with a session library.
func sessionApps() []apps.Info {
	var out []apps.Info
	for _, in := range apps.All {
		if in.Library != "none" {
			out = append(out, in)
		}
	}
	return out
}

type rateStat struct {
	p50, p99, p999 series // ns
	achieved       series // req/s the app kept up with (below the rate: saturated)
	appCPU         series // µs of the app process per request
	redisCPU       series // µs of redis-server per request
	requests       int64
	errors, non2xx int64
	cmds           map[string]cmdStat // commandstats summed over rounds
}

type rateResults struct {
	stats  map[key]*rateStat
	raw    []string
	rate   float64
	dur    time.Duration
	rounds int
	conns  int
	pin    pinning
}

// runRates runs every constant-rate cell once per round, apps in a shuffled
// order within each route (orderCells).
//
// redis-server runs beside the generator in this phase, not beside the app
// servers (see pinning.rateString): in production it does not share the
// app's CPU. Beside them, it waited for the CPU while an app's collector
// marked, and the write tail measured that, not the library: with 20,000
// sessions resident in tether-hybrid's cache (its mark phase 15–21 ms on
// one CPU), its p99 on /incr was 3.7–5.8 ms with redis-server on the app's
// CPU and 2.0 ms, as tether-redis's, with it on the other (bench/analysis.md).
func runRates(ctx context.Context, rdb *redis.Client, redisPid int, servers map[string]*server, cookies map[string][]string,
	pin pinning, rate float64, dur time.Duration, rounds, conns int) (*rateResults, error) {
	res := &rateResults{stats: map[key]*rateStat{}, rate: rate, dur: dur, rounds: rounds, conns: conns, pin: pin}
	// The generator runs in this process: pin it where wrk runs.
	if err := pinProcess(pin.load, os.Getpid()); err != nil {
		return nil, err
	}
	defer pinProcess(pin.all, os.Getpid())
	if err := pinProcess(pin.load, redisPid); err != nil {
		return nil, err
	}
	defer pinProcess(pin.servers, redisPid)
	var cells []cell
	for _, rt := range rateRoutes {
		for _, in := range rt.apps() {
			cells = append(cells, cell{route: rt.name, path: rt.path, app: in.Name})
		}
	}
	for r := range rounds {
		for _, c := range orderCells(cells, r+100) {
			s := servers[c.app]
			time.Sleep(settle)
			if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
				return nil, err
			}
			app0, err := serverCPU(s)
			if err != nil {
				return nil, err
			}
			redis0, err := redisCPU(ctx, rdb)
			if err != nil {
				return nil, err
			}
			out, err := loadgen.New("go", "")
			if err != nil {
				return nil, err
			}
			lr, err := out.Run(loadgen.Config{URL: s.url(c.path), Cookies: cookies[c.app], Conns: conns, Duration: dur, Rate: rate})
			if err != nil {
				return nil, err
			}
			app1, err := serverCPU(s)
			if err != nil {
				return nil, err
			}
			redis1, err := redisCPU(ctx, rdb)
			if err != nil {
				return nil, err
			}
			info, err := rdb.Info(ctx, "commandstats").Result()
			if err != nil {
				return nil, err
			}
			k := key{c.route, c.app}
			st := res.stats[k]
			if st == nil {
				st = &rateStat{cmds: map[string]cmdStat{}}
				res.stats[k] = st
			}
			n := float64(lr.Requests)
			st.achieved = append(st.achieved, lr.RPS)
			st.p50 = append(st.p50, float64(lr.P50))
			st.p99 = append(st.p99, float64(lr.P99))
			st.p999 = append(st.p999, float64(lr.P999))
			st.appCPU = append(st.appCPU, (app1-app0)/n)
			st.redisCPU = append(st.redisCPU, (redis1-redis0)/n)
			st.requests += lr.Requests
			st.errors += lr.Errors
			st.non2xx += lr.Non2xx
			for name, cs := range parseCommandStats(info) {
				if harnessCommand(name) {
					continue
				}
				t := st.cmds[name]
				t.calls += cs.calls
				t.usec += cs.usec
				st.cmds[name] = t
			}
			res.raw = append(res.raw, fmt.Sprintf("round=%d route=%s app=%s rate=%.0f requests=%d achieved=%.0f p50=%v p99=%v p999=%v max=%v app_cpu_us_per_req=%.2f redis_cpu_us_per_req=%.2f errors=%d non2xx=%d",
				r+1, c.route, c.app, rate, lr.Requests, lr.RPS, lr.P50, lr.P99, lr.P999, lr.Max, (app1-app0)/n, (redis1-redis0)/n, lr.Errors, lr.Non2xx))
		}
		progress("constant-rate round %d/%d: %d runs", r+1, rounds, len(cells))
	}
	return res, nil
}

// serverCPU is the benchserver's CPU time so far, in µs.
func serverCPU(s *server) (float64, error) {
	resp, err := http.Get("http://" + s.admin + "/cpu")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		User int64 `json:"user_us"`
		Sys  int64 `json:"sys_us"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("%s /cpu: %w", s.app, err)
	}
	return float64(v.User + v.Sys), nil
}

// redisCPU is redis-server's CPU time so far (INFO cpu, every thread), in µs.
func redisCPU(ctx context.Context, rdb *redis.Client) (float64, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for l := range strings.SplitSeq(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("INFO cpu %s: %w", l, err)
			}
			total += f * 1e6
		}
	}
	return total, nil
}

// usecPerCall is a command's mean Redis time per call over the run.
func (st *rateStat) usecPerCall(name string) (float64, bool) {
	c, ok := st.cmds[name]
	if !ok || c.calls == 0 {
		return 0, false
	}
	return float64(c.usec) / float64(c.calls), true
}
