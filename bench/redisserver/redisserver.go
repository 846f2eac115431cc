// Package redisserver starts a throwaway redis-server for the benchmarks: on
// a free loopback port, in a temporary directory, persisting nothing.
//
// The main module's internal/testserver does the same for tests, but takes a
// testing.TB, and the harness runs outside `go test`; both find the binary
// with internal/binpath.
package redisserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/binpath"
)

// Server is a running redis-server. It is safe for concurrent use; Stop is
// idempotent.
type Server struct {
	Addr string // "127.0.0.1:port"

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs `redis-server --port P --save "" --appendonly no` in a temporary
// directory and waits until it answers PING. It retries with another port if
// the server dies during startup (the port was taken meanwhile).
func Start() (*Server, error) { return StartUnder() }

// StartUnder is Start with the server run under a wrapper command, such as
// valgrind and its options: the wrapper's arguments, then redis-server's
// path and options, make the command line. A wrapper must exec the server in
// its own process (valgrind does), so that Pid is the server's.
func StartUnder(wrapper ...string) (*Server, error) {
	path := binpath.Find("redis-server")
	if path == "" {
		return nil, errors.New("redisserver: redis-server not found on $PATH nor where packages install it (run bench/install.sh as root, or install redis-server)")
	}
	var lastErr error
	for range 3 {
		s, err := start(path, wrapper)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(path string, wrapper []string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("redisserver: free port: %w", err)
	}
	dir, err := os.MkdirTemp("", "tether-bench-redis-")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	args := append(wrapper[:len(wrapper):len(wrapper)], path,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--protected-mode", "no",
	)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redisserver: start: %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()

	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redisserver: redis-server exited during startup: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("redisserver: redis-server did not answer PING within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Pid is the server's process ID.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop terminates the server (SIGKILL after 5 s) and removes its directory.
func (s *Server) Stop() error {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	return os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
