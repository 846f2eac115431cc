// Command instrcount counts the instructions an app's server executes per
// request on /none, the route that never touches the session, under
// valgrind's callgrind: a figure that, unlike req/s or CPU time on a shared
// 2-core machine, is the same in every run (for the same binary and inputs),
// so that a difference of a percent between the no-library app and a session
// library is read off a profile instead of out of the noise.
//
// Each app's server (cmd/benchserver, built by the caller: -server) runs
// twice under callgrind, with GOMAXPROCS=1 as in the pinned HTTP runs and
// asynchronous preemption off (callgrind does not survive Go's preemption
// signals). Each run seeds the app's sessions, serves a number of requests
// over keep-alive connections, and exits; the difference between the two
// runs' totals, divided by the difference in requests, is the cost of one
// request with the server's start, the seeding and the exit taken out. The
// collector's work is part of it, in proportion to what each request
// allocates; a collection more or less in the window (about 2 million
// instructions) moves the figure by that over the window's requests, which
// the report states.
//
// callgrind counts user-space instructions only: the system calls' time in
// the kernel, the same for every app (the same reads and writes per
// request), is not in it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tether-go/tether/bench/redisserver"
)

func main() {
	server := flag.String("server", "", "benchserver binary (required)")
	appList := flag.String("apps", "none,none-context,tether-memory,tether-redis,tether-hybrid", "apps, comma-separated; the first is the baseline, the second the floor")
	n1 := flag.Int("n1", 4000, "requests of the shorter run")
	n2 := flag.Int("n2", 36000, "requests of the longer run")
	conns := flag.Int("conns", 8, "keep-alive connections")
	sessions := flag.Int("sessions", 256, "sessions seeded per app, used round robin")
	runs := flag.Int("runs", 3, "measurements per app (the report gives their median and range)")
	out := flag.String("out", "results/instructions.md", "report to write")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("instrcount: ")
	if *server == "" || *n2 <= *n1 {
		log.Fatal("need -server, and -n2 > -n1")
	}
	if _, err := exec.LookPath("valgrind"); err != nil {
		log.Fatal("valgrind not found (Debian's package valgrind)")
	}
	rs, err := redisserver.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer rs.Stop()

	apps := strings.Split(*appList, ",")
	per := make(map[string][]float64)
	started := time.Now()
	for range max(*runs, 1) { // in rotation, so that a slow drift hits every app alike
		for _, app := range apps {
			var totals [2]int64
			for i, n := range []int{*n1, *n2} {
				t, err := count(*server, app, rs.Addr, n, *conns, *sessions)
				if err != nil {
					log.Fatalf("%s, %d requests: %v", app, n, err)
				}
				totals[i] = t
			}
			v := float64(totals[1]-totals[0]) / float64(*n2-*n1)
			per[app] = append(per[app], v)
			log.Printf("%s: %.0f instructions per request", app, v)
		}
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, []byte(report(apps, per, *n1, *n2, *conns, *sessions, time.Since(started))), 0o644); err != nil {
		log.Fatal(err)
	}
}

func report(apps []string, runs map[string][]float64, n1, n2, conns, sessions int, took time.Duration) string {
	var b strings.Builder
	base, floor := apps[0], apps[min(1, len(apps)-1)]
	per := make(map[string]float64)
	for app, vs := range runs {
		per[app] = median(vs)
	}
	fmt.Fprintf(&b, "# Instructions per request on `/none`\n\n")
	fmt.Fprintf(&b, "Written by `make instr` (bench/cmd/instrcount) on %s in %s. Each app's server ran under valgrind's callgrind (GOMAXPROCS=1, asynchronous preemption off) with %d seeded sessions, once for %d and once for %d requests to `/none` over %d keep-alive connections; the figure is the difference of the two runs' instruction totals over the %d requests between them (user space only; the collector's work included), the median of %d such measurements per app, taken in rotation, with their range. One collection more or less in that window moves a figure by about %d instructions.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), took.Round(time.Second), sessions, n1, n2, conns, n2-n1, len(runs[base]), 2_000_000/(n2-n1))
	fmt.Fprintf(&b, "| app | instructions per request | over %s | over %s |\n|---|---|---|---|\n", base, floor)
	for _, app := range apps {
		vs := runs[app]
		fmt.Fprintf(&b, "| %s | %s (%s–%s) | %s | %s |\n", app, group(per[app]), group(slices.Min(vs)), group(slices.Max(vs)), delta(per[app], per[base]), delta(per[app], per[floor]))
	}
	return b.String()
}

func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func delta(v, ref float64) string {
	if ref == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.0f (%+.1f %%)", v-ref, (v-ref)/ref*100)
}

func group(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

var totalsRE = regexp.MustCompile(`(?m)^totals: (\d+)`)

// count runs app's server under callgrind for n requests and returns its
// instruction total.
func count(server, app, redisAddr string, n, conns, sessions int) (int64, error) {
	dir, err := os.MkdirTemp("", "instrcount")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	outFile := filepath.Join(dir, "callgrind.out")
	cmd := exec.Command("valgrind", "--tool=callgrind", "--callgrind-out-file="+outFile, server, "-app", app, "-redis", redisAddr)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return 0, fmt.Errorf("%w\n%s", err, tail(stderr.String()))
	}
	var addrs struct{ Addr string }
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&addrs); err != nil {
		return fail(fmt.Errorf("reading the server's address: %w", err))
	}
	go io.Copy(io.Discard, stdout)
	cookies, err := seed(addrs.Addr, sessions)
	if err != nil {
		return fail(err)
	}
	if err := drive(addrs.Addr, "/none", cookies, n, conns); err != nil {
		return fail(err)
	}
	stdin.Close() // the server exits when its standard input closes
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("server: %w\n%s", err, tail(stderr.String()))
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		return 0, err
	}
	m := totalsRE.FindSubmatch(data)
	if m == nil {
		return 0, fmt.Errorf("no totals in callgrind's output\n%s", tail(stderr.String()))
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// seed starts sessions with /seed and returns the cookie headers to send; an
// app without sessions (the no-library apps) gets a cookie of the same size,
// so that every app parses the same requests.
func seed(addr string, sessions int) ([]string, error) {
	var cookies []string
	client := &http.Client{Timeout: time.Minute}
	for range sessions {
		resp, err := client.Get("http://" + addr + "/seed")
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
	}
	client.CloseIdleConnections()
	if len(cookies) == 0 {
		cookies = []string{"session=" + strings.Repeat("A", 43)}
	}
	return cookies, nil
}

// drive sends n requests for path over conns keep-alive connections, each
// waiting for its response before the next, and checks every status.
func drive(addr, path string, cookies []string, n, conns int) error {
	reqs := make([]string, len(cookies))
	for i, c := range cookies {
		reqs[i] = "GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: instrcount\r\nCookie: " + c + "\r\n\r\n"
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for c := range conns {
		share := n / conns
		if c < n%conns {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := connection(addr, reqs, c, conns, share); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

func connection(addr string, reqs []string, first, step, n int) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for j := range n {
		if _, err := io.WriteString(conn, reqs[(first+j*step)%len(reqs)]); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
	}
	return nil
}
