package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/loadgen"
)

// httpRoutes are the routes under load. The baseline serves only "none".
var httpRoutes = []struct{ name, path string }{
	{"read", "/read"},
	{"incr", "/incr"},
	{"set", "/set?k=last"},
	{"none", "/none"},
}

type httpStat struct {
	rps, p50, p90, p99 series
	errors, non2xx     int64
}

type httpResults struct {
	stats  map[key]*httpStat
	raw    []string
	cmd    string
	runs   int
	pin    pinning
	stalls []string // runs with a response slower than stallLimit
	// none is the interleaved /none run (runNoneSlices), noneCmd describes
	// it, and noneSlice is its slice.
	none      sliced
	noneCmd   string
	noneSlice time.Duration
	// resident is the /none comparison repeated, after the rounds, on the
	// processes that served the write routes (see runResident).
	resident *sliced
}

// stallLimit marks a run in which the machine stalled: no app here takes a
// second to answer a request by itself.
const stallLimit = time.Second

// cell is one run: an app under load on a route.
type cell struct {
	route, path, app string
}

// settle is the pause before each run: the previous run's server closes its
// connections and finishes its garbage collection on its own time.
const settle = 200 * time.Millisecond

// httpCells lists route × app, the baseline on "none" only, the limit apps
// on "read" only.
func httpCells() []cell {
	var cells []cell
	for _, rt := range httpRoutes {
		for _, in := range apps.HTTPApps() {
			if in.Library == "none" && rt.name != "none" || in.Library == "limit" && rt.name != "read" {
				continue
			}
			cells = append(cells, cell{route: rt.name, path: rt.path, app: in.Name})
		}
	}
	return cells
}

// dummyCookies are cookies of the right shape for the baseline, so that its
// requests are as large as the others'.
func dummyCookies(n int) []string {
	out := make([]string, n)
	for i := range out {
		b := make([]byte, 32)
		rand.Read(b)
		out[i] = apps.CookieName + "=" + base64.RawURLEncoding.EncodeToString(b)
	}
	return out
}

// noneRoute is the route that ignores the session. Its target (≥ 0.97× the
// no-library app) asks for a resolution finer than a run of seconds per app
// gives on this machine: its ratios come from runNoneSlices. Its runs here
// give the latency columns of its table.
const noneRoute = "none"

// runHTTP runs every cell once per round. Within a round, cells go route by
// route, apps in a shuffled order (see orderCells), with a pause between runs
// for the last server to go quiet.
func runHTTP(servers map[string]*server, cookies map[string][]string, lg loadgen.Runner, pin pinning, rounds, conns int, dur time.Duration) (*httpResults, error) {
	res := &httpResults{stats: map[key]*httpStat{}, pin: pin}
	threads := ""
	if strings.HasPrefix(lg.Name(), "wrk") {
		threads = " (`wrk -t1 -c%d`, with a Lua script for the cookies)"
		threads = fmt.Sprintf(threads, conns)
	}
	res.cmd = fmt.Sprintf("%s: %d connections%s, %v per run, %d cookies (sessions) per app used round robin, %d rounds (on `/none`, on a second process of each app that serves only this route and its seeded sessions), apps in a shuffled order within each route and round, %v pause before each run; %s",
		lg.Name(), conns, threads, dur, len(cookies[apps.All[1].Name]), rounds, settle, pin)
	cells := httpCells()
	// Warm up each app (connection pools, caches) on its write path.
	for _, in := range apps.HTTPApps() {
		path := "/incr"
		switch in.Library {
		case "none":
			path = "/none"
		case "limit":
			path = "/read"
		}
		if _, err := lg.Run(loadgen.Config{URL: servers[in.Name].url(path), Cookies: cookies[in.Name], Conns: conns, Duration: time.Second, CPUs: pin.load}); err != nil {
			return nil, err
		}
		if s := servers[noneKey(in.Name)]; s != nil {
			if _, err := lg.Run(loadgen.Config{URL: s.url("/none"), Cookies: cookies[noneKey(in.Name)], Conns: conns, Duration: time.Second, CPUs: pin.load}); err != nil {
				return nil, err
			}
		}
	}
	for r := range rounds {
		order := orderCells(cells, r)
		for _, c := range order {
			sk := serverKey(servers, c.route, c.app)
			s := servers[sk]
			time.Sleep(settle)
			cfg := loadgen.Config{URL: s.url(c.path), Cookies: cookies[sk], Conns: conns, Duration: dur, CPUs: pin.load}
			out, err := lg.Run(cfg)
			if err != nil {
				return nil, err
			}
			k := key{c.route, c.app}
			st := res.stats[k]
			if st == nil {
				st = &httpStat{}
				res.stats[k] = st
			}
			st.rps = append(st.rps, out.RPS)
			st.p50 = append(st.p50, float64(out.P50))
			st.p90 = append(st.p90, float64(out.P90))
			st.p99 = append(st.p99, float64(out.P99))
			st.errors += out.Errors
			st.non2xx += out.Non2xx
			res.runs++
			if out.Max > stallLimit {
				res.stalls = append(res.stalls, fmt.Sprintf("round %d %s %s (max %v)", r+1, c.app, c.path, out.Max.Round(time.Millisecond)))
			}
			res.raw = append(res.raw, fmt.Sprintf("round=%d route=%s app=%s tool=%s requests=%d rps=%.0f p50=%v p90=%v p99=%v p999=%v max=%v errors=%d non2xx=%d",
				r+1, c.route, c.app, out.Tool, out.Requests, out.RPS, out.P50, out.P90, out.P99, out.P999, out.Max, out.Errors, out.Non2xx))
		}
		progress("HTTP round %d/%d: %d runs", r+1, rounds, len(order))
	}
	return res, nil
}

// noneKey names the second process of app, which serves /none only. The
// untouched route's target is the middleware's cost, so its figure must not
// depend on what the write routes left in the process: every request pays
// for the collector marking the sessions an app keeps in its heap, a cost
// measured apart (runResident).
func noneKey(app string) string { return app + "@none" }

// serverKey is the process that serves app on route: its /none process
// where there is one.
func serverKey(servers map[string]*server, route, app string) string {
	if route == noneRoute && servers[noneKey(app)] != nil {
		return noneKey(app)
	}
	return app
}

// orderCells keeps routes in order and shuffles the apps within each route.
// The shuffle is seeded by the round, so a run can be repeated. (A rotation
// would keep every app behind the same predecessor in every round, and what
// a run leaves behind, such as a server still closing its connections or
// collecting garbage, would always fall on the same app.)
func orderCells(cells []cell, r int) []cell {
	rng := mrand.New(mrand.NewPCG(uint64(r), 0x7e7e))
	var out []cell
	for i := 0; i < len(cells); {
		j := i
		for j < len(cells) && cells[j].route == cells[i].route {
			j++
		}
		group := slices.Clone(cells[i:j])
		rng.Shuffle(len(group), func(a, b int) { group[a], group[b] = group[b], group[a] })
		out = append(out, group...)
		i = j
	}
	return out
}
