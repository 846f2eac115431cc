package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript spreads requests over the cookies in a file (one per line,
// starting each thread at a random one) and prints the summary as one JSON
// line. Latencies from wrk are in microseconds.
const wrkScript = `
local cookies, n, i = {}, 0, 0
init = function(args)
  for line in io.lines(args[1]) do n = n + 1; cookies[n] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  i = math.random(n)
end
request = function()
  i = i % n + 1
  return wrk.format(nil, nil, {["Cookie"] = cookies[i]})
end
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format('JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}\n',
    s.requests, s.duration, e.connect, e.read, e.write, e.status, e.timeout,
    lat:percentile(50), lat:percentile(90), lat:percentile(99), lat:percentile(99.9), lat.max))
end
`

type wrkRunner struct {
	path, dir, script string
	version           string
	n                 int
}

func newWrk(dir string) (*wrkRunner, error) {
	path, err := exec.LookPath("wrk")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "cookies.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return nil, err
	}
	out, _ := exec.Command(path, "--version").CombinedOutput()
	// "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer"
	v, _, _ := strings.Cut(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]), " [")
	return &wrkRunner{path: path, dir: dir, script: script, version: v}, nil
}

func (w *wrkRunner) Name() string { return w.version }

func (w *wrkRunner) Run(cfg Config) (Result, error) {
	cfg.defaults()
	if cfg.Rate > 0 {
		return runRate(cfg)
	}
	w.n++
	cookies := filepath.Join(w.dir, fmt.Sprintf("cookies-%d.txt", w.n))
	if err := os.WriteFile(cookies, []byte(strings.Join(cfg.Cookies, "\n")+"\n"), 0o644); err != nil {
		return Result{}, err
	}
	defer os.Remove(cookies)
	secs := max(1, int((cfg.Duration+time.Second/2)/time.Second))
	args := []string{"-t1", "-c" + strconv.Itoa(cfg.Conns), "-d" + strconv.Itoa(secs) + "s", "--timeout", "5s",
		"-s", w.script, cfg.URL, "--", cookies}
	cmd := exec.Command(w.path, args...)
	if cfg.CPUs != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cfg.CPUs, w.path}, args...)...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: wrk %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	var line string
	for l := range strings.SplitSeq(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "JSON "); ok {
			line = rest
		}
	}
	if line == "" {
		return Result{}, fmt.Errorf("loadgen: no summary in wrk output: %s", out)
	}
	var s struct {
		Req                                   int64 `json:"requests"`
		Dur                                   int64 `json:"duration_us"`
		Connect, Read, Write, Status, Timeout int64
		P50, P90, P99, P999, Max              int64
	}
	if err := json.Unmarshal([]byte(line), &s); err != nil {
		return Result{}, fmt.Errorf("loadgen: wrk summary %q: %w", line, err)
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	r := Result{
		Tool:     "wrk",
		Requests: s.Req,
		Errors:   s.Connect + s.Read + s.Write + s.Timeout,
		Non2xx:   s.Status,
		Elapsed:  us(s.Dur),
		P50:      us(s.P50), P90: us(s.P90), P99: us(s.P99), P999: us(s.P999), Max: us(s.Max),
	}
	if r.Elapsed > 0 {
		r.RPS = float64(r.Requests) / r.Elapsed.Seconds()
	}
	return r, nil
}
