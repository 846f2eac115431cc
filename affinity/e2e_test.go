package affinity_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
)

// The end-to-end test: three processes of internal/testapp behind a real
// NGINX that balances round-robin, with no stickiness at all.

// buildTestApp compiles internal/testapp, with the race detector when the
// test runs with it (its packages are in the build cache then).
func buildTestApp(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "testapp")
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command(goBin, append(args, "./internal/testapp")...).CombinedOutput(); err != nil {
		t.Fatalf("go build ./internal/testapp: %v\n%s", err, out)
	}
	return bin
}

// proc is one app process. Its methods must run on the test's goroutine.
type proc struct {
	t       *testing.T
	name    string
	addr    string
	args    []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if raceEnabled {
		cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.err = err
		close(done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := noKeepAlive.RoundTrip(mustRequest("GET", "http://"+p.addr+"/healthz", nil))
		if err == nil {
			res.Body.Close()
			if res.Header.Get("X-Node") == p.name {
				return
			}
		}
		select {
		case <-done:
			p.t.Fatalf("%s exited at start: %v\n%s", p.name, p.err, p.log())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready: %v\n%s", p.name, err, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL: no shutdown, no flush, sockets closed by the kernel.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop shuts the process down with SIGTERM and fails the test unless it
// exits 0 (a race report makes it exit 66).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.kill()
	}
	var exit *exec.ExitError
	if p.err != nil && !(errors.As(p.err, &exit) && exit.ExitCode() == 0) {
		p.t.Errorf("%s: %v\n%s", p.name, p.err, p.log())
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

func mustRequest(method, u string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// deployment is three app processes behind NGINX round-robin.
type deployment struct {
	procs []*proc
	lb    string
}

// deploy starts three replicas with extra flags from args(i) (beside -addr
// and -node), and NGINX in front.
func deploy(t *testing.T, bin string, affinity bool, args func(i int) []string) *deployment {
	t.Helper()
	d := &deployment{}
	addrs := make([]string, 3)
	for i := range addrs {
		addrs[i] = "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
	}
	dir := t.TempDir()
	for i, addr := range addrs {
		name := string(rune('a' + i))
		a := []string{bin, "-addr", addr, "-node", name}
		if affinity {
			a = append(a, "-peers", strings.Join(addrs, ","), "-self", addr)
		}
		p := &proc{t: t, name: name, addr: addr, args: append(a, args(i)...), logPath: filepath.Join(dir, name+".log")}
		p.start()
		t.Cleanup(func() {
			p.stop()
			if t.Failed() {
				t.Logf("--- log of %s:\n%s", p.name, p.log())
			}
		})
		d.procs = append(d.procs, p)
	}
	ng := testserver.Nginx(t, `
		upstream app { server `+addrs[0]+`; server `+addrs[1]+`; server `+addrs[2]+`; }
		server {
			listen {{listen}};
			location / {
				proxy_pass http://app;
				proxy_set_header Host $host;
				proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			}
		}`)
	d.lb = ng.Addr()
	return d
}

func (d *deployment) proc(name string) *proc {
	for _, p := range d.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// hitRatio sums the replicas' hybrid cache counters.
func (d *deployment) hitRatio(t *testing.T) (hits, misses uint64) {
	t.Helper()
	for _, p := range d.procs {
		res, err := noKeepAlive.RoundTrip(mustRequest("GET", "http://"+p.addr+"/stats", nil))
		if err != nil {
			t.Fatal(err)
		}
		var s struct{ Hits, Misses uint64 }
		err = json.NewDecoder(res.Body).Decode(&s)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		hits, misses = hits+s.Hits, misses+s.Misses
	}
	return hits, misses
}

// user is a browser with a cookie jar.
type user struct {
	t    *testing.T
	name string
	c    *http.Client
	lb   string
}

func newUser(t *testing.T, name, lb string) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, name: name, lb: lb, c: &http.Client{Jar: jar, Transport: noKeepAlive}}
}

type answer struct {
	status       int
	node         string
	retryAfter   string
	cacheControl string
	User         string `json:"user"`
	Visits       int    `json:"visits"`
}

func (u *user) do(method, path string, form url.Values) answer {
	u.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	res, err := u.c.Do(mustRequest(method, "http://"+u.lb+path, body))
	if err != nil {
		u.t.Fatalf("%s %s %s: %v", u.name, method, path, err)
	}
	defer res.Body.Close()
	a := answer{status: res.StatusCode, node: res.Header.Get("X-Node"), retryAfter: res.Header.Get("Retry-After"), cacheControl: res.Header.Get("Cache-Control")}
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			u.t.Fatalf("%s %s %s: %v", u.name, method, path, err)
		}
	}
	return a
}

func (u *user) login() answer {
	u.t.Helper()
	u.do("GET", "/", nil) // a first visit: the routing cookie, an anonymous session
	a := u.do("POST", "/login", url.Values{"user": {u.name}})
	if a.status != http.StatusOK || a.User != u.name {
		u.t.Fatalf("%s: login answered %+v", u.name, a)
	}
	return a
}

// walk logs users in and has each visit n times; it returns how many
// visits saw the user logged in, and the nodes each user was served by.
func walk(t *testing.T, lb string, users, n int) (seen, total int, nodes []map[string]bool) {
	t.Helper()
	for i := range users {
		u := newUser(t, fmt.Sprintf("user%d", i), lb)
		served := map[string]bool{u.login().node: true}
		for range n {
			a := u.do("GET", "/", nil)
			if a.status != http.StatusOK {
				t.Fatalf("%s: visit answered %d", u.name, a.status)
			}
			served[a.node] = true
			total++
			if a.User == u.name {
				seen++
			}
		}
		nodes = append(nodes, served)
	}
	return seen, total, nodes
}

func TestEndToEnd(t *testing.T) {
	testserver.Require(t, "nginx")
	start := time.Now()
	bin := buildTestApp(t)
	t.Logf("test app built in %v", time.Since(start).Round(time.Millisecond))
	none := func(int) []string { return []string{"-store", "memory"} }

	t.Run("MemoryWithoutAffinity", func(t *testing.T) {
		d := deploy(t, bin, false, none)
		seen, total, _ := walk(t, d.lb, 10, 3)
		t.Logf("memory store, round-robin, no affinity: %d of %d visits saw the session", seen, total)
		if seen == total {
			t.Fatal("every visit saw its session without affinity: the baseline is not broken, so the test proves nothing")
		}
	})

	t.Run("MemoryWithAffinity", func(t *testing.T) {
		d := deploy(t, bin, true, none)
		seen, total, nodes := walk(t, d.lb, 10, 3)
		t.Logf("memory store, round-robin, affinity: %d of %d visits saw the session", seen, total)
		if seen != total {
			t.Fatalf("%d of %d visits saw the session", seen, total)
		}
		for i, served := range nodes {
			if len(served) != 1 {
				t.Fatalf("user%d served by %v", i, served)
			}
		}
	})

	t.Run("BoltOwnerKilled", func(t *testing.T) {
		dir := t.TempDir()
		d := deploy(t, bin, true, func(i int) []string {
			return []string{"-store", "bolt", "-bolt", filepath.Join(dir, fmt.Sprintf("node%d.db", i)), "-local-hold", "30s"}
		})
		u := newUser(t, "alice", d.lb)
		owner := d.proc(u.login().node)
		before := u.do("GET", "/", nil)
		owner.kill()
		// During the outage: 503 with Retry-After, whichever node NGINX picks.
		for range 4 {
			a := u.do("GET", "/", nil)
			if secs, err := strconv.Atoi(a.retryAfter); a.status != http.StatusServiceUnavailable || err != nil || secs < 1 || a.cacheControl != "no-store" {
				t.Fatalf("owner down: %+v, want 503 with Retry-After and Cache-Control: no-store", a)
			}
			time.Sleep(100 * time.Millisecond)
		}
		owner.start() // same address, same data directory
		deadline := time.Now().Add(35 * time.Second)
		held := 0
		for {
			a := u.do("GET", "/", nil)
			if a.status == http.StatusOK {
				if a.node != owner.name || a.User != "alice" || a.Visits != before.Visits+1 {
					t.Fatalf("after the restart: %+v, want alice on %s with visit %d", a, owner.name, before.Visits+1)
				}
				break
			}
			if a.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("after the restart: %+v", a)
			}
			held++
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("bolt: owner %s SIGKILLed and restarted; 503 with Retry-After during the outage, %d more after the restart until the peers probed it; still logged in", owner.name, held)
	})

	t.Run("HybridOwnerKilled", func(t *testing.T) {
		rdb := testserver.Redis(t)
		hybrid := func(int) []string { return []string{"-store", "hybrid", "-redis", rdb.Addr()} }
		ratio := map[bool]float64{}
		for _, aff := range []bool{false, true} {
			d := deploy(t, bin, aff, hybrid)
			seen, total, _ := walk(t, d.lb, 10, 5)
			if seen != total {
				t.Fatalf("hybrid, affinity %v: %d of %d visits saw the session", aff, seen, total)
			}
			hits, misses := d.hitRatio(t)
			ratio[aff] = float64(hits) / float64(hits+misses)
			t.Logf("hybrid over Redis, affinity %v: local hit ratio %.0f%% (%d hits, %d misses)", aff, 100*ratio[aff], hits, misses)
			if !aff {
				continue
			}
			u := newUser(t, "bob", d.lb)
			owner := d.proc(u.login().node)
			u.do("GET", "/", nil)
			owner.kill()
			a := u.do("GET", "/", nil)
			if a.status != http.StatusOK || a.node == owner.name || a.node == "" || a.User != "bob" {
				t.Fatalf("owner %s killed: next request %+v, want bob served by another node", owner.name, a)
			}
			t.Logf("hybrid: owner %s SIGKILLed; the next request was served by %s, still logged in", owner.name, a.node)
		}
		if ratio[true] <= ratio[false] {
			t.Fatalf("local hit ratio with affinity %.2f, without %.2f", ratio[true], ratio[false])
		}
	})
	t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond))
}
