package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// inprocRoutes are the routes of the in-process benchmark (inproc package).
var inprocRoutes = []string{"none", "read", "incr", "set"}

type key struct{ route, app string }

// inprocStat is one benchmark over rounds.
type inprocStat struct {
	ns, bytes, allocs series
	cpu               series // the process' CPU ns per request (cpu-ns/op)
}

type inprocResults struct {
	stats map[key]*inprocStat
	raw   []byte // benchstat-format output of every round
	cmd   string
}

// buildInproc compiles the in-process benchmarks once, so that every round
// runs the same binary (and profiles can be symbolised against it).
func buildInproc(dir string) (string, error) {
	bin := filepath.Join(dir, "inproc.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "./inproc")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go test -c ./inproc: %w", err)
	}
	return bin, nil
}

// runInproc runs the benchmark binary rounds times, each round one process
// running every route and app once, with the apps' order rotated by the
// round number: libraries alternate, and each appears in every position.
func runInproc(bin, redisAddr string, rounds int, benchtime time.Duration) (*inprocResults, error) {
	res := &inprocResults{stats: map[key]*inprocStat{}}
	args := []string{"-test.run=^$", "-test.bench=^BenchmarkOverhead$", "-test.benchmem",
		"-test.count=1", "-test.benchtime=" + benchtime.String()}
	res.cmd = fmt.Sprintf("BENCH_REDIS_ADDR=%s BENCH_ORDER_SHIFT=<round> %s %s   # %d rounds; built with go test -c ./inproc",
		"<redis>", filepath.Base(bin), strings.Join(args, " "), rounds)
	for r := range rounds {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "BENCH_REDIS_ADDR="+redisAddr, "BENCH_ORDER_SHIFT="+strconv.Itoa(r))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("inproc round %d: %v\n%s%s", r+1, err, out, stderr.Bytes())
		}
		res.raw = append(res.raw, out...)
		n := parseBench(out, func(route, app string, ns, b, allocs, cpu float64) {
			k := key{route, app}
			st := res.stats[k]
			if st == nil {
				st = &inprocStat{}
				res.stats[k] = st
			}
			st.ns = append(st.ns, ns)
			st.bytes = append(st.bytes, b)
			st.allocs = append(st.allocs, allocs)
			st.cpu = append(st.cpu, cpu)
		})
		if n == 0 {
			return nil, fmt.Errorf("inproc round %d: no benchmark lines in:\n%s", r+1, out)
		}
		progress("in-process round %d/%d: %d benchmarks", r+1, rounds, n)
	}
	return res, nil
}

// parseBench reads `go test -bench` lines of BenchmarkOverhead/route/app-P.
func parseBench(out []byte, f func(route, app string, ns, b, allocs, cpu float64)) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || !strings.HasPrefix(fields[0], "BenchmarkOverhead/") {
			continue
		}
		name := strings.TrimPrefix(fields[0], "BenchmarkOverhead/")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		route, app, ok := strings.Cut(name, "/")
		if !ok {
			continue
		}
		vals := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err == nil {
				vals[fields[i+1]] = v
			}
		}
		f(route, app, vals["ns/op"], vals["B/op"], vals["allocs/op"], vals["cpu-ns/op"])
		n++
	}
	return n
}
