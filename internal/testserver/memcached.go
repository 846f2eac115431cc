package testserver

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// MemcachedServer is a memcached started by [Memcached] and stopped when the
// test ends. It is safe for concurrent use, but Stop, Start and Kill report
// failures with tb.Fatalf and so belong on the test's goroutine.
type MemcachedServer struct {
	server
}

// MemcachedOption configures [Memcached].
type MemcachedOption func(*memcachedConfig)

type memcachedConfig struct {
	args []string
}

// WithMemcachedArgs appends command-line arguments to memcached, after the
// package's own; memcached lets a later flag override an earlier one. For
// example WithMemcachedArgs("-I", "2m", "-m", "128") raises the item size
// limit (default 1 MiB) and the memory limit (default here 64 MiB).
func WithMemcachedArgs(args ...string) MemcachedOption {
	return func(c *memcachedConfig) { c.args = append(c.args, args...) }
}

// Memcached starts memcached on a free loopback TCP port (UDP off) with 64 MiB
// of memory.
func Memcached(tb testing.TB, opts ...MemcachedOption) *MemcachedServer {
	tb.Helper()
	path := lookBinary(tb, "memcached")
	var cfg memcachedConfig
	for _, o := range opts {
		o(&cfg)
	}
	dir := tb.TempDir()
	// Cleanup uses SIGKILL: there is nothing to flush, and memcached takes up
	// to a second to notice SIGTERM (its clock ticks once per second), which
	// adds up across a suite.
	srv := launch(tb, "memcached", freePort, memcachedVersion, syscall.SIGKILL, func(port int) *process {
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
		if os.Geteuid() == 0 {
			// memcached refuses to run as root without -u. Naming root keeps
			// the uid unchanged, and with it Pdeathsig, which the kernel
			// clears when a process changes its uid.
			args = append(args, "-u", "root")
		}
		return &process{
			name:    "memcached",
			path:    path,
			args:    append(args, cfg.args...),
			dir:     dir,
			logPath: filepath.Join(dir, "memcached.log"),
		}
	})
	return &MemcachedServer{server: srv}
}

// Addr returns the server's address, "127.0.0.1:port". It does not change
// across Stop and Start.
func (s *MemcachedServer) Addr() string { return s.addr }

// Stop shuts the server down with SIGTERM (SIGKILL after a timeout) and waits
// for it to exit, which takes memcached up to a second; [MemcachedServer.Kill]
// is immediate. Stopping a stopped server does nothing.
func (s *MemcachedServer) Stop() {
	s.tb.Helper()
	s.shutdown(syscall.SIGTERM)
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *MemcachedServer) Kill() {
	s.tb.Helper()
	s.shutdown(syscall.SIGKILL)
}

// Start restarts a stopped server on the same address. Memcached keeps
// nothing across a restart, so it comes back empty. If another process took
// the port while the server was down, the test fails.
func (s *MemcachedServer) Start() {
	s.tb.Helper()
	s.restart()
}

// memcachedVersion is the readiness check: the text protocol's "version"
// command.
func memcachedVersion(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := fmt.Fprint(c, "version\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return fmt.Errorf("version answered %q", line)
	}
	return nil
}
