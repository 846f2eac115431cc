package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tether-go/tether/bench/apps"
)

// server is a benchserver process serving one app.
type server struct {
	app   string
	addr  string // the app
	admin string // counters and pprof
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

func buildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "benchserver")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/benchserver")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/benchserver: %w", err)
	}
	return bin, nil
}

// startServer starts bin for app and waits for its addresses. Closing its
// standard input (Stop, or this process dying) stops it.
//
// Its standard error goes to logDir/<prefix>.log: libraries log there (scs
// logs every load the load generator cancels by closing its connections at
// the end of a run).
// cpus pins it (see pinning; "" runs it anywhere).
func startServer(bin, logDir, app, redisAddr, prefix string, rotateEvery time.Duration, cpus string) (*server, error) {
	args := []string{"-app", app, "-redis", redisAddr, "-prefix", prefix}
	if rotateEvery > 0 {
		args = append(args, "-rotate-every", rotateEvery.String())
	}
	cmd := command(cpus, bin, args...)
	logf, err := os.Create(filepath.Join(logDir, strings.Trim(strings.ReplaceAll(prefix, ":", "-"), "-")+".log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{app: app, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- l
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case l := <-line:
		var a struct{ Addr, Admin string }
		if err := json.Unmarshal([]byte(l), &a); err != nil || a.Addr == "" {
			s.Stop()
			return nil, fmt.Errorf("benchserver %s: bad startup line %q", app, strings.TrimSpace(l))
		}
		s.addr, s.admin = a.Addr, a.Admin
		return s, nil
	case <-time.After(20 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("benchserver %s: no startup line in 20s", app)
	}
}

// Stop ends the server and waits for it (SIGKILL after 5 s).
func (s *server) Stop() {
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) url(path string) string { return "http://" + s.addr + path }

// client is the harness's HTTP client for seeding and the correctness runs:
// enough idle connections for 200 concurrent requests.
var client = &http.Client{
	Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, DisableCompression: true},
	Timeout:   10 * time.Second,
}

// get sends GET path with the jar's cookie and updates the jar.
func get(s *server, j *apps.Jar, path string) (int, string, error) {
	req, err := http.NewRequest("GET", s.url(path), nil)
	if err != nil {
		return 0, "", err
	}
	if j.Cookie != "" {
		req.Header.Set("Cookie", j.Cookie)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	j.Update(resp.Header)
	return resp.StatusCode, string(body), err
}

// seed starts n sessions and returns their cookies.
func seed(s *server, n int) ([]string, error) {
	cookies := make([]string, 0, n)
	for range n {
		var j apps.Jar
		code, body, err := get(s, &j, "/seed")
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK || j.Cookie == "" {
			return nil, fmt.Errorf("%s /seed: %d %q, cookie %q", s.app, code, body, j.Cookie)
		}
		cookies = append(cookies, j.Cookie)
	}
	return cookies, nil
}
