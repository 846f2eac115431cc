package cluster_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
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

const (
	// readyTimeout bounds how long a node may take to answer /healthz.
	readyTimeout = 15 * time.Second
	// stopTimeout bounds a graceful stop; the app itself gives requests in
	// flight 5 seconds.
	stopTimeout = 10 * time.Second
)

// buildApp compiles ./app into a temporary directory, with the race
// detector when the test itself runs with it (the packages are then in the
// build cache already, and the nodes are checked for races too).
func buildApp(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first on PATH
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "./app")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./app: %v\n%s", err, out)
	}
	return bin
}

// node is one app process. Its methods must be called from the test's
// goroutine.
type node struct {
	t       *testing.T
	name    string
	addr    string // 127.0.0.1:port, kept across restarts
	bin     string
	redis   string
	logPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, valid once done is closed
}

// startNode starts a node on a free port, and registers a cleanup that stops
// it gracefully and fails the test if it does not exit cleanly: SIGTERM
// must shut a node down with status 0.
func startNode(t *testing.T, bin, name, redisAddr string) *node {
	t.Helper()
	n := &node{t: t, name: name, bin: bin, redis: redisAddr, logPath: filepath.Join(t.TempDir(), name+".log")}
	var err error
	// The port is free when FreePort looks, but another process may take
	// it before the node binds it: retry with a fresh one.
	for range 3 {
		n.addr = "127.0.0.1:" + strconv.Itoa(testserver.FreePort(t))
		if err = n.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start %s: %v\n%s", name, err, n.logTail())
	}
	t.Cleanup(func() {
		if err := n.stop(); err != nil {
			t.Errorf("%s: %v\n%s", name, err, n.logTail())
		}
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", name, n.logTail())
		}
	})
	return n
}

// start launches the process on n.addr and waits until it answers /healthz
// as itself.
func (n *node) start() error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, "-addr", n.addr, "-redis", n.redis, "-node", n.name)
	cmd.Stdout, cmd.Stderr = logf, logf
	if raceEnabled {
		// A race-built program sleeps a second at exit so that other
		// goroutines can still report races; a node has reported them by
		// then. A race makes the node exit with status 66, which stop
		// reports.
		cmd.Env = append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	// A test binary that dies without cleanups takes its nodes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	n.cmd, n.done = cmd, done
	go func() {
		n.err = cmd.Wait()
		logf.Close()
		close(done)
	}()

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		res, err := client.Get("http://" + n.addr + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && res.Header.Get("X-Node") == n.name {
				return nil
			}
			err = fmt.Errorf("/healthz: %s, X-Node %q", res.Status, res.Header.Get("X-Node"))
		}
		select {
		case <-done:
			return fmt.Errorf("exited during startup: %v", n.err)
		default:
		}
		if time.Now().After(deadline) {
			n.signal(syscall.SIGKILL)
			<-done
			return fmt.Errorf("not ready after %v: %v", readyTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart starts a stopped node again on the same address.
func (n *node) restart() {
	n.t.Helper()
	if err := n.start(); err != nil {
		n.t.Fatalf("restart %s on %s: %v\n%s", n.name, n.addr, err, n.logTail())
	}
}

// kill ends the node with SIGKILL, like a crash or an OOM kill: no graceful
// shutdown, its memory gone.
func (n *node) kill() {
	n.t.Helper()
	n.signal(syscall.SIGKILL)
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
		n.t.Fatalf("%s did not exit after SIGKILL", n.name)
	}
}

// stop shuts a running node down with SIGTERM and reports how it exited.
// Stopping a node that is not running does nothing.
func (n *node) stop() error {
	if n.cmd == nil || n.exited() {
		return nil
	}
	n.signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(stopTimeout):
		n.signal(syscall.SIGKILL)
		<-n.done
		return fmt.Errorf("ignored SIGTERM for %v and was killed", stopTimeout)
	}
	if n.err != nil {
		return fmt.Errorf("graceful shutdown: %w", n.err)
	}
	return nil
}

func (n *node) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

func (n *node) signal(sig syscall.Signal) {
	if err := n.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		n.t.Logf("signal %s: %v", n.name, err)
	}
}

// logTail returns the end of the node's log for failure messages.
func (n *node) logTail() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 4096
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}
