package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
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
}

// stallLimit marks a run in which the machine stalled: no app here takes a
// second to answer a request by itself.
const stallLimit = time.Second

type cell struct{ route, path, app string }

// httpCells lists route × app, the baseline on "none" only.
func httpCells() []cell {
	var cells []cell
	for _, rt := range httpRoutes {
		for _, in := range apps.All {
			if in.Library == "none" && rt.name != "none" {
				continue
			}
			cells = append(cells, cell{rt.name, rt.path, in.Name})
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

// noneRoute is the route that ignores the session. Its target (≥ 0.95× the
// no-library app) asks for a resolution of a few percent, finer than any
// other route's, so each round runs its cells several times.
const noneRoute = "none"

// runHTTP runs every cell once per round, the /none cells noneRepeats times.
// Within a round, cells go route by route, and the apps' order rotates by
// the round number (and by the repetition, for /none).
func runHTTP(servers map[string]*server, cookies map[string][]string, lg loadgen.Runner, pin pinning, rounds, noneRepeats, conns int, dur time.Duration) (*httpResults, error) {
	res := &httpResults{stats: map[key]*httpStat{}, pin: pin}
	threads := ""
	if strings.HasPrefix(lg.Name(), "wrk") {
		threads = " (`wrk -t1 -c%d`, with a Lua script for the cookies)"
		threads = fmt.Sprintf(threads, conns)
	}
	res.cmd = fmt.Sprintf("%s: %d connections%s, %v per run, %d cookies (sessions) per app used round robin, %d rounds (on `/none`, %d runs per app per round); %s",
		lg.Name(), conns, threads, dur, len(cookies[apps.All[1].Name]), rounds, noneRepeats, pin)
	cells := httpCells()
	// Warm up each app (connection pools, caches) on its write path.
	for _, in := range apps.All {
		path := "/incr"
		if in.Library == "none" {
			path = "/none"
		}
		if _, err := lg.Run(loadgen.Config{URL: servers[in.Name].url(path), Cookies: cookies[in.Name], Conns: conns, Duration: time.Second, CPUs: pin.load}); err != nil {
			return nil, err
		}
	}
	for r := range rounds {
		order := rotateCells(cells, r, noneRepeats)
		for _, c := range order {
			s := servers[c.app]
			out, err := lg.Run(loadgen.Config{URL: s.url(c.path), Cookies: cookies[c.app], Conns: conns, Duration: dur, CPUs: pin.load})
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

// rotateCells keeps routes in order and rotates the apps within each route
// by r; the /none group is repeated noneRepeats times, rotated further by
// each repetition.
func rotateCells(cells []cell, r, noneRepeats int) []cell {
	var out []cell
	for i := 0; i < len(cells); {
		j := i
		for j < len(cells) && cells[j].route == cells[i].route {
			j++
		}
		group := cells[i:j]
		reps := 1
		if group[0].route == noneRoute {
			reps = max(1, noneRepeats)
		}
		for k := range reps {
			n := (r*reps + k) % len(group)
			out = append(out, group[n:]...)
			out = append(out, group[:n]...)
		}
		i = j
	}
	return out
}
