package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tether-go/tether/bench/apps"
)

type report struct {
	opts    options
	machine machine
	inproc  *inprocResults
	http    *httpResults
	rates   *rateResults
	growth  *growthResults
	cmds    map[key]*cmdCount
	// redisInstr is redis-server's instructions per request (callgrind);
	// nil without valgrind.
	redisInstr *redisInstr
	checks     *checkResults
	behind     []behind
	profiles   map[string]string
	// noneShare is each Tether app's middleware share of its server's CPU
	// on the untouched route (see middlewareShare).
	noneShare map[string]float64
	// readSplit is where the CPU of each app of limitPairs goes on /read
	// (see cpuSplitOf).
	readSplit map[string]cpuSplit
	// instr is the last `make instr` run's figures, if there is one.
	instr   *instrCounts
	elapsed time.Duration
}

// target is one of issue 7's goals, measured.
type target struct {
	name     string
	goal     string
	measured string
	met      bool
	// verdict, if set, replaces yes or no: for a target whose median's
	// interval straddles the goal.
	verdict string
}

func (rep *report) rps(route, app string) series {
	if s := rep.http.stats[key{route, app}]; s != nil {
		return s.rps
	}
	return nil
}

// bestPeer returns the peer with the highest median req/s on route.
func (rep *report) bestPeer(route string, peers ...string) (string, series) {
	var name string
	var best series
	for _, p := range peers {
		if s := rep.rps(route, p); name == "" || s.median() > best.median() {
			name, best = p, s
		}
	}
	return name, best
}

// ratioRange is the median of the per-round ratios of a to b, with their
// min and max.
func ratioRange(a, b series) (med, lo, hi float64) {
	r := paired(a, b, div)
	return r.median(), r.min(), r.max()
}

// ratioText is a target's measured ratio: the median to three places, so
// that a median just under a goal does not print as the goal itself.
func ratioText(a, b series) string {
	return seriesText(paired(a, b, div))
}

// seriesText is ratioText for ratios already paired.
func seriesText(r series) string {
	return fmt.Sprintf("**%.3f×** (%s–%s)", r.median(), ratio(r.min()), ratio(r.max()))
}

// slicesText is a series of per-round ratios from runNoneSlices: the median
// and the middle half of the rounds.
func slicesText(r series) string {
	q1, q3 := r.quartiles()
	lo, hi := r.medianInterval()
	return fmt.Sprintf("**%.3f×** (95 %% interval of the median %.3f×–%.3f×; middle half of %d rounds %.3f×–%.3f×)", r.median(), lo, hi, len(r), q1, q3)
}

// atLeast judges a goal of at least goal on a series of per-round ratios by
// its median's 95 % interval: met if all of it is at or above, not met if
// all of it is below, and undecided if it straddles goal, which a rerun
// could decide either way.
func atLeast(r series, goal float64) (met bool, verdict string) {
	lo, hi := r.medianInterval()
	switch {
	case lo >= goal:
		return true, ""
	case hi < goal:
		return false, ""
	}
	return false, fmt.Sprintf("**undecided** (the median's 95 %% interval, %.3f×–%.3f×, straddles %.2f×)", lo, hi, goal)
}

// added is the in-process cost of app over the baseline on route, per
// round (ns) and as medians.
func (rep *report) added(route, app string) (nsAdded, allocsAdded, bytesAdded float64, ok bool) {
	s, ok := rep.addedNs(route, app)
	if !ok {
		return 0, 0, 0, false
	}
	a, b := rep.inproc.stats[key{route, app}], rep.inproc.stats[key{route, "none"}]
	return s.median(), a.allocs.median() - b.allocs.median(), a.bytes.median() - b.bytes.median(), true
}

func (rep *report) addedNs(route, app string) (series, bool) {
	a, b := rep.inproc.stats[key{route, app}], rep.inproc.stats[key{route, "none"}]
	if a == nil || b == nil {
		return nil, false
	}
	return paired(a.ns, b.ns, sub), true
}

func (rep *report) targets() []target {
	var ts []target
	redisPeers := []string{"scs-redis", "gorilla-redis"}

	// Read on Redis.
	p, ps := rep.bestPeer("read", redisPeers...)
	m, _, _ := ratioRange(rep.rps("read", "tether-redis"), ps)
	ts = append(ts, target{
		name:     "Read on Redis, req/s, tether-redis ÷ faster Redis peer (" + p + ")",
		goal:     "≥ 1.30×",
		measured: ratioText(rep.rps("read", "tether-redis"), ps),
		met:      m >= 1.3,
	})
	// Untouched route, with three controls shown alongside: a second
	// process of the no-library app, in the same slices (what the
	// measurement reads for identical servers); gorilla, which has no
	// middleware and on /none runs the no-library code (with its own,
	// larger cookies); and the floor, the no-library app behind the least
	// a session middleware must do (apps.NoneContext).
	control := ""
	if c := rep.http.none.ratios[apps.NoneControl.Name]; len(c) > 0 {
		control = "; controls: a second no-library process, " + slicesText(c)
	}
	if c := rep.http.none.ratios["gorilla-cookie"]; len(c) > 0 {
		control += "; gorilla-cookie, which runs no session code on this route, " + slicesText(c)
	}
	floor := rep.http.none.ratios[apps.NoneContext.Name]
	if len(floor) > 0 {
		control += "; the floor of a session middleware, " + apps.NoneContext.Name + " (no library; a context value and a wrapped writer per request, nothing else), " + slicesText(floor)
	}
	for _, app := range tetherApps {
		met, verdict := atLeast(rep.http.none.ratios[app], 0.97)
		vsFloor := ""
		if len(floor) > 0 {
			vsFloor = "; ÷ the floor in the same round, " + slicesText(paired(rep.http.none.ratios[app], floor, div))
		}
		ts = append(ts, target{
			name:     fmt.Sprintf("Route that ignores the session, req/s, %s ÷ no library (every app's process that serves only this route and its seeded sessions, in turn in %s slices; the ratio of the same round's requests)", app, dur(float64(rep.http.noneSlice))),
			goal:     "≥ 0.97×",
			measured: slicesText(rep.http.none.ratios[app]) + vsFloor + control + shareText(rep.noneShare, app) + rep.heapText(app) + rep.instr.text(app),
			met:      met,
			verdict:  verdict,
		})
	}
	if rr := rep.http.resident; rr != nil {
		var parts []string
		for _, app := range tetherApps {
			parts = append(parts, fmt.Sprintf("%s %s, live heap %.1f MB, collector %s per request", app, slicesText(rr.ratios[app]), rr.heapMB[app], ns(rr.gcNs[app])))
		}
		ts = append(ts, target{
			name:     fmt.Sprintf("Route that ignores the session, req/s ÷ no library, on the processes that served the write routes, with %s more sessions started in each (resident in the Go heap for the memory store and the hybrid cache, in Redis for tether-redis)", thousands(residentSessions)),
			goal:     "reported: the collector's cost of sessions kept in the Go heap",
			measured: strings.Join(parts, "; ") + fmt.Sprintf("; the no-library app's collector: %s per request", ns(rr.gcNs["none"])),
			met:      true,
		})
	}
	// Hybrid sticky read.
	m, _, _ = ratioRange(rep.rps("read", "tether-hybrid"), ps)
	ts = append(ts, target{
		name:     "Hybrid sticky read, req/s, tether-hybrid ÷ faster Redis peer (" + p + ")",
		goal:     "≥ 2.00×",
		measured: ratioText(rep.rps("read", "tether-hybrid"), ps),
		met:      m >= 2,
	})
	// In-process overhead.
	for _, route := range []string{"read", "incr", "set"} {
		nsT, allocsT, _, ok := rep.added(route, "tether-memory")
		if !ok {
			continue
		}
		ts = append(ts, target{
			name:     fmt.Sprintf("In-process %s, allocs/op added over no library, tether-memory", route),
			goal:     "≤ 40",
			measured: "**" + num(allocsT) + "**",
			met:      allocsT <= 40,
		})
		bestNs, bestName := 0.0, ""
		for _, peer := range peersOf["tether-memory"] {
			if n, _, _, ok := rep.added(route, peer); ok && (bestName == "" || n < bestNs) {
				bestNs, bestName = n, peer
			}
		}
		if bestName != "" && bestNs > 0 {
			tS, _ := rep.addedNs(route, "tether-memory")
			pS, _ := rep.addedNs(route, bestName)
			r := paired(tS, pS, div)
			ts = append(ts, target{
				name:     fmt.Sprintf("In-process %s, ns/op added over no library, tether-memory ÷ faster in-memory peer (%s)", route, bestName),
				goal:     "≤ 0.25×",
				measured: fmt.Sprintf("**%s** (%s–%s); %s vs %s", ratio(r.median()), ratio(r.min()), ratio(r.max()), ns(nsT), ns(bestNs)),
				met:      r.median() <= 0.25,
			})
		}
	}
	ts = append(ts, rep.inprocCPUTargets()...)
	// Redis commands.
	for _, app := range []string{"tether-redis", "tether-hybrid"} {
		read, none := rep.cmds[key{"read", app}], rep.cmds[key{"none", app}]
		if read == nil || none == nil {
			continue
		}
		want := 1.0
		if app == "tether-hybrid" {
			want = 0
		}
		writes := writeCommands(read.server)
		ts = append(ts, target{
			name:     "Redis round trips per request, " + app + ": read, untouched; write commands on read",
			goal:     fmt.Sprintf("%s, 0; none", num(want)),
			measured: fmt.Sprintf("**%s, %s; %s**", num(read.roundTrips), num(none.roundTrips), orNone(writes)),
			met:      read.roundTrips <= want && none.roundTrips == 0 && len(writes) == 0,
		})
	}
	ts = append(ts, rep.limitTargets()...)
	ts = append(ts, rep.rateTargets()...)
	ts = append(ts, rep.growthTargets()...)
	// Correctness.
	if rep.checks != nil {
		for _, app := range tetherApps {
			lost, _ := lostSeries(rep.checks.lost[app])
			ts = append(ts, target{
				name:     fmt.Sprintf("Keys lost of %d concurrent writes to one session, %s", concurrentWrites, app),
				goal:     "0",
				measured: "**" + rangeOf(lost, num) + "**" + peersLost(rep.checks),
				met:      lost.max() == 0,
			})
		}
		for _, app := range tetherApps {
			d, a, _, _ := rotSeries(rep.checks.periodic[app])
			tot := series{}
			for i := range d {
				tot = append(tot, d[i]+a[i])
			}
			ts = append(ts, target{
				name:     fmt.Sprintf("Old-cookie logouts during a periodic rotation (WithRotateEvery, 30 s grace), %s, of %d requests", app, rotDuring+rotAfter),
				goal:     "0",
				measured: "**" + rangeOf(tot, num) + "**" + peersLogouts(rep.checks),
				met:      tot.max() == 0,
			})
		}
	}
	return ts
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func peersLost(c *checkResults) string {
	var parts []string
	for _, p := range []string{"scs-memory", "scs-redis", "gorilla-cookie", "gorilla-redis"} {
		l, _ := lostSeries(c.lost[p])
		parts = append(parts, p+" "+num(l.median()))
	}
	return "; peers (median): " + strings.Join(parts, ", ")
}

func peersLogouts(c *checkResults) string {
	return "; scs and gorilla have no periodic rotation (their login rotation: see section 4)"
}

// writeCommands lists the Redis commands in cmds that write.
func writeCommands(cmds map[string]float64) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(cmds)) {
		switch name {
		case "set", "setex", "del", "unlink", "hset", "hdel", "hmset", "expire", "pexpire", "pexpireat", "eval", "evalsha", "zadd", "zrem", "getex":
			if cmds[name] >= 0.5 {
				out = append(out, name)
			}
		}
	}
	return out
}

func (rep *report) markdown() []byte {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := rep.opts
	mc := rep.machine

	w("# Benchmarks: Tether, alexedwards/scs and gorilla/sessions\n\n")
	w("Generated by `make bench` (bench/cmd/benchrun) on %s in %s. Do not edit by hand: rerun `make bench`.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), rep.elapsed.Round(time.Second))
	w("![HTTP req/s and in-process ns/op per route and library](bench/benchmarks.svg)\n\n")
	w("The same small app (bench/apps) is written once per library; every figure below comes from one run, on one machine, against one redis-server, with the libraries alternating within each round. Medians over rounds, with (min–max).\n\n")

	w("## Machine and versions\n\n")
	w("| | |\n|---|---|\n")
	w("| CPUs (`nproc`) | %d |\n| CPU | %s |\n| memory | %s |\n| kernel | %s |\n| Go | %s |\n| Redis | %s |\n| load generator | %s |\n| Tether | %s |\n",
		mc.CPUs, mc.CPUModel, mc.MemTotal, mc.Kernel, mc.GoVersion, mc.Redis, mc.LoadGen, mc.Tether)
	for _, l := range mc.Libraries {
		w("| %s | %s |\n", l[0], l[1])
	}
	w("| load average (1, 5, 15 min) | %s before, %s after |\n\n", mc.LoadBefore, mc.LoadAfter)

	w("## Targets (issues 7 and 20)\n\n")
	w("Each ratio is the median over rounds of that round's ratio (within a round the apps ran next to each other), with the lowest and highest round in parentheses. In-process *added* ns/op is an app's ns/op minus the no-library app's in the same round. The rows of the route that ignores the session are judged by the 95 %% bootstrap interval of their median: *undecided* where it straddles the goal.\n\n")
	w("| target | goal | measured | met |\n|---|---|---|---|\n")
	for _, t := range rep.targets() {
		met := "yes"
		switch {
		case t.verdict != "":
			met = t.verdict
		case !t.met:
			met = "**no**"
		}
		w("| %s | %s | %s | %s |\n", t.name, t.goal, t.measured, met)
	}
	w("\n")

	w("## The apps\n\n")
	w("Routes: `/read` reads a key, `/incr` reads and writes a counter, `/set?k=` writes a key without reading, `/login` sets a key and rotates, `/none` ignores the session; `/seed` starts a session, `/keys` counts keys. Every app uses the cookie `session` (Path=/, Secure, HttpOnly, SameSite=Lax, persistent) and each library's defaults otherwise (Tether: JSON values, bare token; scs and gorilla: gob). `none` is the same mux with no session library.\n\n")
	w("| app | library | store | lifetimes | rotation on `/login` |\n|---|---|---|---|---|\n")
	for _, in := range apps.All {
		w("| %s | %s | %s | %s | %s |\n", in.Name, in.Library, in.Store, in.Lifetimes, in.Rotation)
	}
	w("\n")

	rep.writeInproc(w)
	rep.writeHTTP(w)
	rep.writeRates(w)
	rep.writeGrowth(w)
	rep.writeCmds(w)
	rep.writeChecks(w)
	rep.writeBehind(w)
	rep.writeNoise(w)

	w("## How it was run\n\n")
	w("```\nmake bench     # = bash scripts/install-deps.sh; bash bench/install.sh; cd bench && go run ./cmd/benchrun\n```\n\n")
	w("- Redis: one `redis-server --save \"\" --appendonly no` on loopback, started by the harness, shared by every app (distinct key prefixes).\n")
	w("- In-process: `%s`. Raw output (benchstat format): `bench/results/inproc.txt`.\n", rep.inproc.cmd)
	w("- HTTP: one `benchserver` process per app (`bench/cmd/benchserver`), %s, after a 1 s warm-up per app. Raw runs: `bench/results/http.txt`.\n", rep.http.cmd)
	if rep.http.noneCmd != "" {
		w("- The route that ignores the session, for its target: %s. Each app's figure is the median over rounds of its requests divided by the no-library app's in the same round. Raw rounds: `bench/results/http.txt` (`none-slices`).\n", rep.http.noneCmd)
	}
	w("- Redis commands: %d sequential requests of one fresh session per app and route, after 3 warm-up requests; `CONFIG RESETSTAT` before, `INFO commandstats` after; the app's go-redis client counts what it sends (a hook).\n", o.cmdRequests)
	w("- Correctness: %d repetitions of each check, over HTTP against the same servers.\n", o.checkReps)
	w("- Profiles: written to `bench/results/profiles/` (not committed: the repository ignores `*.prof`); their `go tool pprof -top` outputs are above.\n")
	return b.Bytes()
}

func (rep *report) writeInproc(w func(string, ...any)) {
	w("## 1. In-process overhead per request\n\n")
	w("`testing.B`, one request per iteration through `httptest` (request, recorder and mux included, so the `none` row is the floor), with an established session's cookie. *CPU ns/op* is the process' CPU time (getrusage: every thread, user and system) per request, the median over rounds: for an app on Redis it is below ns/op while the process waits for the reply, and includes the round trip's system calls. *Added* is the median minus the `none` app's median on the same route. Apps on Redis include the round trips to the loopback redis-server.\n\n")
	for _, route := range inprocRoutes {
		w("### %s\n\n", routeTitle(route))
		w("| app | ns/op | CPU ns/op | added ns/op | B/op | allocs/op | added allocs/op |\n|---|---|---|---|---|---|---|\n")
		for _, in := range append(apps.All[:len(apps.All):len(apps.All)], apps.Limits...) {
			st := rep.inproc.stats[key{route, in.Name}]
			if st == nil {
				continue
			}
			addNs, addAllocs, _, _ := rep.added(route, in.Name)
			w("| %s | %s | %s | %s | %s | %s | %s |\n", in.Name, rangeOf(st.ns, ns), ns(st.cpu.median()), ns(addNs), rangeOf(st.bytes, thousands),
				rangeOf(st.allocs, num), num(addAllocs))
		}
		w("\n")
	}
}

func routeTitle(route string) string {
	switch route {
	case "none":
		return "`/none`: the session is not touched"
	case "read":
		return "`/read`: read one key"
	case "incr":
		return "`/incr`: read and write a counter"
	case "set":
		return "`/set`: write one key without reading"
	case "login":
		return "`/login`: set a key and rotate"
	}
	return route
}

func (rep *report) writeHTTP(w func(string, ...any)) {
	w("## 2. HTTP throughput and latency\n\n")
	w("Loopback, against the shared redis-server; %s. Latency percentiles are medians over rounds. `vs best peer` is the median per-round ratio to the fastest scs or gorilla app of the same kind (in-memory/cookie for tether-memory, Redis for tether-redis and tether-hybrid); on `/none` it compares with the no-library app.\n\n", rep.http.cmd)
	for _, rt := range httpRoutes {
		w("### %s\n\n", routeTitle(rt.name))
		w("| app | req/s | vs best peer | p50 | p90 | p99 | errors, non-2xx |\n|---|---|---|---|---|---|---|\n")
		for _, in := range append(apps.All[:len(apps.All):len(apps.All)], apps.Limits...) {
			st := rep.http.stats[key{rt.name, in.Name}]
			if st == nil {
				continue
			}
			vs := ""
			if rt.name == "none" && in.Library != "none" {
				vs = ratio(rep.http.none.ratios[in.Name].median()) + " of none"
			} else if peers, ok := peersOf[in.Name]; ok {
				p, ps := rep.bestPeer(rt.name, peers...)
				m, _, _ := ratioRange(st.rps, ps)
				vs = ratio(m) + " " + p
			}
			w("| %s | %s | %s | %s | %s | %s | %d, %d |\n", in.Name, rangeOf(st.rps, thousands), vs,
				dur(st.p50.median()), dur(st.p90.median()), dur(st.p99.median()), st.errors, st.non2xx)
		}
		w("\n")
	}
}

func (rep *report) writeCmds(w func(string, ...any)) {
	w("## 3. Redis commands per request\n\n")
	w("*Round trips* and *client commands*: what the app's go-redis client sent, per request. *Server commands*: `INFO commandstats` per request, which also counts the commands a Lua script runs inside Redis (Tether writes with one EVALSHA whose script calls HSET, PEXPIREAT, PUBLISH, …). The hybrid store's subscription heartbeat (a PUBLISH every 5 s) can add a fraction.\n\n")
	w("*Redis µs* is the time redis-server spent per request on the commands the client sent (commandstats `usec`; a script's time includes the commands it runs) — CPU that, on this machine, the app server and the load generator do not get.\n\n")
	w("| app | route | round trips | client commands | Redis µs | server commands (commandstats) |\n|---|---|---|---|---|---|\n")
	for _, in := range apps.All {
		if !in.UsesRedis {
			continue
		}
		for _, rt := range cmdRoutes {
			c := rep.cmds[key{rt.name, in.Name}]
			if c == nil {
				continue
			}
			w("| %s | %s | %s | %s | %.1f | %s |\n", in.Name, rt.name, num(c.roundTrips), cmdList(c.client), c.serverUsec, cmdList(c.server))
		}
	}
	w("\n")
	rep.writeRedisInstr(w)
}

func cmdList(m map[string]float64) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if m[name] > 0 {
			parts = append(parts, name+" "+num(m[name]))
		}
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

func (rep *report) writeChecks(w func(string, ...any)) {
	c := rep.checks
	w("## 4. Correctness under load\n\n")
	w("**Concurrent writes**: one session, %d concurrent requests with its cookie, each setting a distinct key; then the client (keeping the cookie of the last response it received, as a browser does) counts the session's keys. **Rotation**: one session; its original cookie is sent by the rotating request together with %d concurrent reads (other tabs, in-flight requests), then by %d more reads after the rotation finished (a tab that has not seen the new cookie). A read that does not see the session is a logout. %d repetitions; median (min–max).\n\n",
		concurrentWrites, rotDuring-1, rotAfter, rep.opts.checkReps)
	w("| app | keys lost of %d | failed requests | login rotation: logouts during (of %d) | after (of %d) | new cookie works | old cookie still valid at the end | periodic rotation: logouts during (of %d) | after (of %d) |\n|---|---|---|---|---|---|---|---|---|\n",
		concurrentWrites, rotDuring-1, rotAfter, rotDuring, rotAfter)
	for _, in := range apps.All {
		if in.Library == "none" {
			continue
		}
		lost, failed := lostSeries(c.lost[in.Name])
		d, a, ok, alive := rotSeries(c.login[in.Name])
		pd, pa := "n/a", "n/a"
		if rs, found := c.periodic[in.Name]; found {
			x, y, _, _ := rotSeries(rs)
			pd, pa = rangeOf(x, num), rangeOf(y, num)
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", in.Name, rangeOf(lost, num), rangeOf(failed, num),
			rangeOf(d, num), rangeOf(a, num), ok, alive, pd, pa)
	}
	w("\n")
	w("Reading the rotation columns: on login, Tether, scs and the gorilla Redis app delete the old token's record, so reads that arrive with the old cookie after the login are logged out — for Tether deliberately (`Session.Rotate` is the anti-fixation step, so the old token must not lead to the privileged session), so those logouts are intended, not a defect. *Old cookie still valid at the end* is the security side: it should be 0. scs's deleted record is saved again by requests of the same session that loaded it before the login (with `IdleTimeout` set, scs commits every loaded session), which brings the pre-login token back. gorilla's cookie store has no server-side session to rotate, so its old cookie keeps working (with its old contents) until MaxAge. Only Tether has periodic rotation: with `WithRotateEvery` the old token forwards to the new one for the grace period (30 s), and the periodic columns show what clients see; scs and gorilla have no periodic rotation (n/a).\n\n")
}

func (rep *report) writeBehind(w func(string, ...any)) {
	w("## Where Tether is behind\n\n")
	if len(rep.behind) == 0 {
		w("On no measured path of this run is a Tether app worse than its best peer by more than 3 %% (allocations: at all).\n\n")
		return
	}
	w("Every measured path where a Tether app is worse than its best peer (same kind of store) by more than 3 %% (allocations: at all), as the median per-round ratio. *Within noise*: in at least one round Tether was not behind.\n\n")
	w("| path | Tether (median) | best peer (median) | Tether ÷ peer per round | within noise |\n|---|---|---|---|---|\n")
	for _, b := range rep.behind {
		f := func(v float64) string { return num(v) }
		switch b.metric {
		case "in-process ns/op", "HTTP p99 latency":
			f = ns
			if b.metric == "HTTP p99 latency" {
				f = dur
			}
		case "HTTP req/s":
			f = thousands
		}
		nz := "no"
		if b.overlap {
			nz = "yes"
		}
		w("| %s, `/%s`, %s | %s | %s %s | %s (%s–%s) | %s |\n", b.metric, b.route, b.app, f(b.tether), b.peer, f(b.peerVal),
			ratio(b.ratio.median()), ratio(b.ratio.min()), ratio(b.ratio.max()), nz)
	}
	w("\n")
	// The analysis is written by hand from a run's profiles (bench/
	// analysis.md) and included as it is.
	if a, err := os.ReadFile("analysis.md"); err == nil {
		w("<!-- from bench/analysis.md -->\n%s\n<!-- end of bench/analysis.md -->\n\n", strings.TrimSpace(string(a)))
	}
	if len(rep.profiles) > 0 {
		w("### Profiles\n\n")
		for _, k := range slices.Sorted(maps.Keys(rep.profiles)) {
			w("<details><summary>%s</summary>\n\n```\n%s```\n\n</details>\n\n", k, rep.profiles[k])
		}
	}
}

func (rep *report) writeNoise(w func(string, ...any)) {
	w("## Noise\n\n")
	var inSp, httpSp series
	for _, st := range rep.inproc.stats {
		inSp = append(inSp, st.ns.spread())
	}
	for _, st := range rep.http.stats {
		httpSp = append(httpSp, st.rps.spread())
	}
	w("- In-process: %d rounds × %v per benchmark; the spread (max−min)/median of ns/op is %s at the median benchmark and %s at the worst.\n",
		rep.opts.inprocRounds, rep.opts.inprocTime, pct(inSp.median()), pct(inSp.max()))
	w("- HTTP: %d rounds × %v per run; the spread of req/s is %s at the median cell and %s at the worst.\n",
		rep.opts.httpRounds, rep.opts.httpTime, pct(httpSp.median()), pct(httpSp.max()))
	if len(rep.http.stalls) > 0 {
		w("- Stalls: %d of %d HTTP runs had a response slower than %v: %s. Such stalls come from the machine (several processes share 2 CPUs), and consecutive runs of different apps show them together; medians absorb a stalled round, the min–max ranges and per-round ratios do not.\n",
			len(rep.http.stalls), rep.http.runs, stallLimit, strings.Join(rep.http.stalls, "; "))
	} else {
		w("- Stalls: no HTTP run had a response slower than %v.\n", stallLimit)
	}
	if rep.http.pin.load != "" {
		w("- HTTP runs are %s. The app server's req/s is bounded by its CPU, which it shares with redis-server (so on Redis routes the store's own CPU time counts against the app that causes it); the load generator's cost per request is not in the ratios. Load average before the run: %s; after: %s. On a shared machine (other processes running) differences smaller than the min–max ranges are not meaningful.\n\n",
			rep.http.pin, rep.machine.LoadBefore, rep.machine.LoadAfter)
		return
	}
	w("- The load generator, the app server and redis-server share the machine's %d CPUs, so absolute req/s is bounded by all three together, and ratios between apps are compressed towards 1 (the generator's cost per request is the same for every app). Load average before the run: %s; after: %s. On a shared machine (other processes running) differences smaller than the min–max ranges are not meaningful.\n\n",
		rep.machine.CPUs, rep.machine.LoadBefore, rep.machine.LoadAfter)
}

// heapText states the live heap and the collector's CPU per request of app's
// /none runs, next to the no-library app's.
func (rep *report) heapText(app string) string {
	none := rep.http.none
	h, ok := none.heapMB[app]
	if !ok {
		return ""
	}
	return fmt.Sprintf("; live heap %.1f MB (no library: %.1f MB), collector %s per request (no library: %s; the runtime's /cpu/classes/gc/total, the time the collector held the CPU, over the requests served)", h, none.heapMB["none"], ns(none.gcNs[app]), ns(none.gcNs["none"]))
}

// shareText states what the CPU profile says the untouched route costs.
func shareText(shares map[string]float64, app string) string {
	sh, ok := shares[app]
	if !ok {
		return ""
	}
	return fmt.Sprintf("; in the server's CPU profile under this load, the middleware outside the handler is %.1f %% of the process (its cost alone would give %.2f×)", sh*100, 1-sh)
}
