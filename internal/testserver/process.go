package testserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/binpath"
)

const (
	// readyTimeout bounds how long a server may take to answer after start.
	// Generous because CI machines are shared and slow; a healthy local
	// server answers in well under a second.
	readyTimeout = 15 * time.Second

	// stopTimeout is how long a server gets to exit after its shutdown
	// signal before it is killed.
	stopTimeout = 10 * time.Second

	// startAttempts is how often a constructor retries with a fresh port when
	// the server exits during startup. The port is picked by binding :0 and
	// closing, so another process can take it before the server binds it.
	startAttempts = 4

	// logTailBytes is how much of a server's log goes into failure messages.
	logTailBytes = 2048
)

// findBinary returns the path of an executable called name, or "" if there is
// none (see binpath: $PATH, then where packages install servers).
func findBinary(name string) string { return binpath.Find(name) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
//
// The port is found by listening on port 0 and closing the listener, so
// another process may take it before the caller binds it; the constructors in
// this package retry with a new port when that happens, and callers that bind
// the port themselves should be prepared to do the same.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("testserver: find a free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether port can be bound on 127.0.0.1 right now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// process is one server process that can be stopped and started again with
// the same command line. It is safe for concurrent use.
type process struct {
	name    string // for messages: "redis-server"
	path    string
	args    []string
	dir     string // working directory
	logPath string
	logs    []string            // further logs the server writes itself, tailed in failures too
	cred    *syscall.Credential // nil: run as the current user

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	err  error         // cmd.Wait's result, valid after done is closed
}

// start launches the process with stdout and stderr appended to logPath.
func (p *process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is already running (pid %d)", p.name, p.cmd.Process.Pid)
		}
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "--- testserver: starting %s %s\n", p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Kill the server if the test binary dies without running cleanups.
		Pdeathsig:  syscall.SIGKILL,
		Credential: p.cred,
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// exited returns the channel closed when the current process exits, or nil
// if it was never started.
func (p *process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// exitErr describes how the process ended; call only after exited is closed.
func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		return errors.New("exited with status 0")
	}
	return p.err
}

// stop sends sig, waits up to stopTimeout, then sends SIGKILL and waits for
// the process to be reaped. Stopping a process that is not running is a no-op.
func (p *process) stop(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if sig != syscall.SIGKILL {
		_ = cmd.Process.Signal(sig)
		select {
		case <-done:
			return nil
		case <-time.After(stopTimeout):
		}
	}
	_ = cmd.Process.Kill()
	select {
	case <-done:
		if sig != syscall.SIGKILL {
			return fmt.Errorf("%s ignored %v for %v and was killed", p.name, sig, stopTimeout)
		}
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, cmd.Process.Pid)
	}
}

// waitReady polls ready until it succeeds, the process exits, or readyTimeout
// passes. earlyExit reports whether the process died, which callers treat as
// a possible port race worth a retry.
func (p *process) waitReady(ready func() error) (earlyExit bool, err error) {
	done := p.exited()
	deadline := time.Now().Add(readyTimeout)
	delay := 10 * time.Millisecond
	for {
		lastErr := ready()
		if lastErr == nil {
			return false, nil
		}
		select {
		case <-done:
			return true, fmt.Errorf("%s exited during startup: %v\n%s", p.name, p.exitErr(), p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("%s not ready after %v: %v\n%s", p.name, readyTimeout, lastErr, p.logTail())
		}
		time.Sleep(delay)
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// logTail returns the end of the process's log, formatted for a failure
// message.
func (p *process) logTail() string {
	var b strings.Builder
	for i, path := range append([]string{p.logPath}, p.logs...) {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "--- last lines of %s:\n%s", path, fileTail(path, logTailBytes))
	}
	return b.String()
}

func fileTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// startReady starts p and waits for ready, stopping p again if it does not
// come up so nothing is left behind.
func startReady(p *process, ready func() error) (earlyExit bool, err error) {
	if err := p.start(); err != nil {
		return false, err
	}
	earlyExit, err = p.waitReady(ready)
	if err != nil {
		_ = p.stop(syscall.SIGKILL)
	}
	return earlyExit, err
}

// server is what every *Server type shares: its process on a fixed loopback
// address, the probe that tells when it answers, and the test that owns it.
// Each type embeds it and keeps its own exported Stop/Start/Kill, because
// which of them exist and which signal Stop sends differ per server.
type server struct {
	tb    testing.TB
	port  int
	addr  string // "127.0.0.1:port"
	proc  *process
	ready func(addr string) error
}

// launch starts a server on a port from pickPort, with the process newProc
// builds for that port, and waits until ready answers on it. It retries with
// a new port when the server dies during startup (most likely because the
// port was taken in the meantime), and registers a cleanup that stops the
// server with cleanupSig. Failures end the test with tb.Fatalf.
func launch(tb testing.TB, name string, pickPort func() (int, error), ready func(addr string) error,
	cleanupSig syscall.Signal, newProc func(port int) *process) server {
	tb.Helper()
	var lastErr error
	for range startAttempts {
		port, err := pickPort()
		if err != nil {
			tb.Fatalf("testserver: find a free port for %s: %v", name, err)
		}
		s := server{tb: tb, port: port, addr: hostPort(port), proc: newProc(port), ready: ready}
		earlyExit, err := startReady(s.proc, s.probe)
		if err == nil {
			tb.Cleanup(func() {
				if err := s.proc.stop(cleanupSig); err != nil {
					tb.Errorf("testserver: %v", err)
				}
			})
			return s
		}
		lastErr = err
		if !earlyExit {
			break
		}
	}
	tb.Fatalf("testserver: %v", lastErr)
	return server{}
}

func (s *server) probe() error { return s.ready(s.addr) }

// shutdown stops the process with sig (SIGKILL after stopTimeout) and waits
// for it to exit; a stopped server is left alone.
func (s *server) shutdown(sig syscall.Signal) {
	s.tb.Helper()
	if err := s.proc.stop(sig); err != nil {
		s.tb.Fatalf("testserver: %v", err)
	}
}

// restart starts a stopped server again with the same command line, on the
// same address, and waits until it answers.
func (s *server) restart() {
	s.tb.Helper()
	if _, err := startReady(s.proc, s.probe); err != nil {
		s.tb.Fatalf("testserver: restart on %s: %v", s.addr, err)
	}
}

// dialTimeout bounds every connection a readiness check makes.
const dialTimeout = 2 * time.Second

// dial connects to addr with a deadline on the whole exchange.
func dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(dialTimeout))
	return c, nil
}

func hostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// removeAll is used by cleanups of directories this package creates outside
// t.TempDir.
func removeAll(tb testing.TB, dir string) {
	if err := os.RemoveAll(dir); err != nil {
		tb.Errorf("testserver: remove %s: %v", dir, err)
	}
}
