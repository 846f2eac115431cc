// Command benchrun runs Tether's comparison with alexedwards/scs and
// gorilla/sessions and writes BENCHMARKS.md and a chart. `make bench` runs it
// from the bench directory:
//
//	go run ./cmd/benchrun -out ../BENCHMARKS.md -chart benchmarks.svg
//
// In one run, on one machine, against one redis-server it starts itself:
//
//  1. in-process overhead: the inproc benchmarks (testing.B, httptest),
//     compiled once and run in rounds with the libraries' order rotated;
//  2. HTTP throughput and latency: one benchserver process per app on
//     loopback, loaded by wrk (or the Go load generator) in rounds, cells
//     alternating between libraries;
//  3. Redis commands per request (INFO commandstats after CONFIG RESETSTAT,
//     and the app's client-side count);
//  4. correctness under load: concurrent writes of one session, and requests
//     with the old cookie during a rotation;
//  5. constant rate (issue 20): every app at one fixed rate, latency timed
//     from each request's due time, app and redis-server CPU per request;
//  6. growth (issue 20): bytes per session at 10k and 100k sessions (-growth
//     adds 1M, about 15 minutes more), user operations at 1, 100 and 1000
//     sessions per user, reads and GC pauses with the sessions resident,
//     and the Postgres reaper;
//
// then profiles the paths where Tether is behind a peer, and writes the
// report. Raw outputs go to the results directory.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/apps"
	"github.com/tether-go/tether/bench/loadgen"
	"github.com/tether-go/tether/bench/redisserver"
)

type options struct {
	out, chart, results string
	inprocRounds        int
	inprocTime          time.Duration
	httpRounds          int
	noneRounds          int
	noneSlice           time.Duration
	pin                 bool
	httpTime            time.Duration
	conns               int
	sessions            int
	cmdRequests         int
	instrRounds         int
	checkReps           int
	rotateEvery         time.Duration
	noProfiles          bool
	loadgen             string
	rate                float64
	rateTime            time.Duration
	rateRounds          int
	rateConns           int
	growth              string
	growthOnly          bool
	userSizes           string
	reapN               int
}

var started = time.Now()

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun %6.1fs: %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "../BENCHMARKS.md", "report to write")
	flag.StringVar(&o.chart, "chart", "benchmarks.svg", "chart to write (SVG)")
	flag.StringVar(&o.results, "results", "results", "directory for raw outputs and profiles")
	flag.IntVar(&o.inprocRounds, "inproc-rounds", 11, "rounds of the in-process benchmarks")
	flag.DurationVar(&o.inprocTime, "inproc-benchtime", 200*time.Millisecond, "-benchtime of each in-process benchmark")
	flag.IntVar(&o.httpRounds, "http-rounds", 5, "rounds of the HTTP load runs")
	flag.IntVar(&o.noneRounds, "none-rounds", 150, "rounds of the interleaved /none run (runNoneSlices)")
	flag.DurationVar(&o.noneSlice, "none-slice", 100*time.Millisecond, "each app's slice per round of the interleaved /none run")
	flag.BoolVar(&o.pin, "pin", true, "pin the load generator to CPU 0 and the servers to the other CPUs during the HTTP runs (needs taskset and 2+ CPUs)")
	flag.DurationVar(&o.httpTime, "http-duration", 2*time.Second, "duration of each HTTP load run")
	flag.IntVar(&o.conns, "conns", 16, "connections of each HTTP load run")
	flag.IntVar(&o.sessions, "sessions", 256, "sessions per app under HTTP load")
	flag.IntVar(&o.cmdRequests, "cmd-requests", 100, "requests per Redis command count")
	flag.IntVar(&o.instrRounds, "redis-instr-rounds", 3, "rounds of the count of redis-server's instructions per request under callgrind (0: skip)")
	flag.IntVar(&o.checkReps, "check-reps", 3, "repetitions of each correctness check")
	flag.DurationVar(&o.rotateEvery, "rotate-every", time.Second, "Tether's periodic rotation in the rotation check")
	flag.BoolVar(&o.noProfiles, "no-profiles", false, "skip the pprof profiles")
	flag.StringVar(&o.loadgen, "loadgen", "auto", "HTTP load generator: wrk, go, or auto (wrk if installed)")
	flag.Float64Var(&o.rate, "rate", 2000, "requests per second of the constant-rate runs (0: skip them)")
	flag.DurationVar(&o.rateTime, "rate-duration", 5*time.Second, "duration of each constant-rate run (at 2,000 req/s, 5 s puts 100 requests above the p99 and 10 above the p99.9)")
	flag.IntVar(&o.rateRounds, "rate-rounds", 3, "rounds of the constant-rate runs")
	flag.IntVar(&o.rateConns, "rate-conns", 32, "connections of the constant-rate generator")
	flag.StringVar(&o.growth, "growth", "10000,100000", "session counts of the growth run, comma-separated (add 1000000 for the 1M step: about 15 minutes and 3 GB of memory more; empty: skip)")
	flag.BoolVar(&o.growthOnly, "growth-only", false, "run only the growth section (for trying it; the report then has only that section)")
	flag.StringVar(&o.userSizes, "user-sessions", "1,100,1000", "sessions per user for the UserSessions/DeleteUser timings")
	flag.IntVar(&o.reapN, "reap", 100000, "expired Postgres records the reaper run deletes (0: skip)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// sessionsFor returns the cookies of n sessions of the app in served by s:
// seeded and checked to read back, or, for the no-library app, dummies of
// the same shape.
func sessionsFor(s *server, in apps.Info, n int) ([]string, error) {
	if in.Library == "none" {
		return dummyCookies(n), nil
	}
	cookies, err := seed(s, n)
	if err != nil {
		return nil, err
	}
	j := apps.Jar{Cookie: cookies[0]}
	if code, body, err := get(s, &j, "/read"); err != nil || code != 200 || body != "alice" {
		return nil, fmt.Errorf("%s: a seeded session reads %d %q %v", in.Name, code, body, err)
	}
	return cookies, nil
}

func run(o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the bench module's directory: %w", err)
	}
	if err := os.MkdirAll(o.results, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	rep := &report{opts: o, machine: detectMachine(), instr: readInstrCounts(o.results)}
	progress("machine: %d CPUs, %s, load %s", rep.machine.CPUs, rep.machine.CPUModel, rep.machine.LoadBefore)
	if o.growthOnly {
		if rep.growth, err = runGrowth(o); err != nil {
			return err
		}
		var b bytes.Buffer
		rep.writeGrowth(func(format string, args ...any) { fmt.Fprintf(&b, format, args...) })
		fmt.Fprintln(&b, "## Targets (growth only)")
		for _, t := range rep.growthTargets() {
			fmt.Fprintf(&b, "- %s: goal %s, measured %s, met %v\n", t.name, t.goal, t.measured, t.met)
		}
		return os.WriteFile(o.out, b.Bytes(), 0o644)
	}

	progress("building")
	inprocBin, err := buildInproc(work)
	if err != nil {
		return err
	}
	serverBin, err := buildServer(work)
	if err != nil {
		return err
	}

	rs, err := redisserver.Start()
	if err != nil {
		return err
	}
	defer rs.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	ctx := context.Background()

	// 1. In-process.
	if rep.inproc, err = runInproc(inprocBin, rs.Addr, o.inprocRounds, o.inprocTime); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.results, "inproc.txt"), rep.inproc.raw, 0o644); err != nil {
		return err
	}

	// 2. HTTP: one server per app, alive for the rest of the run.
	pin := choosePinning(rep.machine.CPUs, o.pin)
	if err := pinProcess(pin.servers, rs.Pid()); err != nil {
		return err
	}
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	cookies := map[string][]string{}
	// Every app of apps.All with a session library also gets a second
	// process that serves /none and nothing else (see noneKey).
	type proc struct {
		key string
		in  apps.Info
	}
	var procs []proc
	for _, in := range append(apps.HTTPApps(), apps.HybridMiss) {
		procs = append(procs, proc{in.Name, in})
		if in.Library != "none" && slices.Contains(apps.All, in) {
			procs = append(procs, proc{noneKey(in.Name), in})
		}
	}
	for _, p := range procs {
		s, err := startServer(serverBin, work, p.in.Name, rs.Addr, "http:"+p.key+":", 0, pin.servers)
		if err != nil {
			return err
		}
		servers[p.key] = s
		if cookies[p.key], err = sessionsFor(s, p.in, o.sessions); err != nil {
			return err
		}
	}
	lg, err := loadgen.New(o.loadgen, work)
	if err != nil {
		return err
	}
	rep.machine.LoadGen = lg.Name()
	progress("HTTP load with %s", lg.Name())
	if rep.http, err = runHTTP(servers, cookies, lg, pin, o.httpRounds, o.conns, o.httpTime); err != nil {
		return err
	}
	progress("/none, every app in turn in %v slices, %d rounds", o.noneSlice, o.noneRounds)
	if err := runNoneSlices(rep.http, servers, cookies, pin, o.conns, o.noneRounds, o.noneSlice); err != nil {
		return err
	}
	// What the load runs gathered is saved before the rate runs, should they
	// fail, and again with the resident run's lines below.
	if err := writeLines(filepath.Join(o.results, "http.txt"), rep.http.raw); err != nil {
		return err
	}
	// Constant rate, while the servers are still pinned, and before the
	// resident run starts its 20,000 more sessions in Tether's processes
	// only: the tails of apps whose heaps hold different numbers of
	// sessions would not compare the libraries.
	if o.rate > 0 {
		progress("constant-rate runs at %.0f req/s", o.rate)
		if rep.rates, err = runRates(ctx, rdb, rs.Pid(), servers, cookies, pin, o.rate, o.rateTime, o.rateRounds, o.rateConns); err != nil {
			return err
		}
		if err := writeLines(filepath.Join(o.results, "rate.txt"), rep.rates.raw); err != nil {
			return err
		}
	}
	progress("/none on the processes that served the write routes, with %d more sessions", residentSessions)
	if err := runResident(rep.http, servers, cookies, pin, o.conns, o.noneSlice); err != nil {
		return err
	}
	if err := writeLines(filepath.Join(o.results, "http.txt"), rep.http.raw); err != nil {
		return err
	}
	if err := pinProcess(pin.all, rs.Pid()); err != nil {
		return err
	}

	// 3. Redis commands.
	if rep.cmds, err = countCommands(ctx, rdb, servers, o.cmdRequests); err != nil {
		return err
	}
	if o.instrRounds > 0 {
		progress("redis-server instructions per request under callgrind, %d rounds", o.instrRounds)
		if rep.redisInstr, err = runRedisInstr(ctx, o.instrRounds); err != nil {
			return err
		}
		if rep.redisInstr != nil {
			if err := writeLines(filepath.Join(o.results, "redis-instr.txt"), rep.redisInstr.raw); err != nil {
				return err
			}
		}
	}

	// 4. Correctness.
	if err := rep.runChecks(serverBin, work, rs.Addr); err != nil {
		return err
	}

	// Profiles where Tether is behind.
	rep.findBehind()
	if !o.noProfiles {
		if err := rep.profile(inprocBin, serverBin, rs.Addr, servers, cookies, lg, pin, work); err != nil {
			return err
		}
	}

	// How cost grows, with the HTTP servers stopped: it fills its own
	// redis-server and this process' heap.
	if o.growth != "" {
		for name, s := range servers {
			s.Stop()
			delete(servers, name)
		}
		if rep.growth, err = runGrowth(o); err != nil {
			return err
		}
	}

	if logs, _ := filepath.Glob(filepath.Join(work, "*.log")); len(logs) > 0 {
		for _, l := range logs {
			if b, _ := os.ReadFile(l); len(b) > 0 {
				progress("%s logged %d lines; the first: %s", filepath.Base(l), bytes.Count(b, []byte("\n")), firstLine(b))
			}
		}
	}
	rep.machine.LoadAfter = loadavg()
	rep.elapsed = time.Since(started)
	if err := writeChart(o.chart, rep); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, rep.markdown(), 0o644); err != nil {
		return err
	}
	progress("wrote %s and %s", o.out, o.chart)
	return nil
}

func firstLine(b []byte) string {
	l, _, _ := bytes.Cut(b, []byte("\n"))
	return string(l)
}

func writeLines(path string, lines []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
	return f.Close()
}
