package testserver

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// MariaDBServer is a MariaDB server started by [MariaDB] and stopped when the
// test ends. It is safe for concurrent use, but Stop and Start report
// failures with tb.Fatalf and so belong on the test's goroutine.
type MariaDBServer struct {
	server
}

// MariaDB creates a fresh data directory with mariadb-install-db in the
// test's temporary directory and starts mariadbd on a free loopback port,
// with grant tables skipped: any user name connects without a password, with
// every privilege. The database "test" exists (created at first readiness).
//
// The server is tuned for tests, not durability:
// innodb_flush_log_at_trx_commit=2 writes the log to the kernel at every
// commit (so a commit survives [MariaDBServer.Stop], which kills the process
// like a crash) but does not fsync it. It listens on 127.0.0.1 only, with its
// Unix socket in the data directory, so it never collides with a system
// MariaDB. It runs as root when the test does (--user=root).
func MariaDB(tb testing.TB) *MariaDBServer {
	tb.Helper()
	mariadbd := lookBinary(tb, "mariadbd")
	installDB := lookBinary(tb, "mariadb-install-db")

	base := tb.TempDir()
	dataDir := filepath.Join(base, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, installDB,
		"--no-defaults", "--user=root", "--datadir="+dataDir,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testserver: %s: %v\n%s", cmd, err, out)
	}

	srv := launch(tb, "mariadbd", freePort, mariadbReady, syscall.SIGKILL, func(port int) *process {
		return &process{
			name: "mariadbd",
			path: mariadbd,
			args: []string{
				"--no-defaults",
				"--user=root",
				"--skip-grant-tables",
				"--datadir=" + dataDir,
				"--port=" + strconv.Itoa(port),
				"--bind-address=127.0.0.1",
				"--socket=" + filepath.Join(base, "mariadb.sock"),
				"--pid-file=" + filepath.Join(base, "mariadb.pid"),
				"--innodb-flush-log-at-trx-commit=2",
				"--innodb-buffer-pool-size=64M",
				"--skip-log-bin",
				"--log-error=" + filepath.Join(base, "mariadb.err"),
			},
			dir:     base,
			logPath: filepath.Join(base, "mariadbd.log"),
			logs:    []string{filepath.Join(base, "mariadb.err")},
		}
	})
	return &MariaDBServer{server: srv}
}

// DSN returns a data source name for github.com/go-sql-driver/mysql:
// root@tcp(127.0.0.1:port)/mysql. The database "mysql" always exists; tests
// create their own with CREATE DATABASE if they want one.
func (s *MariaDBServer) DSN() string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/mysql", s.port)
}

// Port returns the TCP port the server listens on. It does not change across
// Stop and Start.
func (s *MariaDBServer) Port() int { return s.port }

// Addr returns the server's address, "127.0.0.1:port".
func (s *MariaDBServer) Addr() string { return s.addr }

// Stop kills the server (SIGKILL), as in a crash: connections are cut, and
// InnoDB recovers committed transactions from its log at the next Start.
// Stopping a stopped server does nothing.
func (s *MariaDBServer) Stop() {
	s.tb.Helper()
	s.shutdown(syscall.SIGKILL)
}

// Start restarts a stopped server on the same port and data directory and
// waits until it accepts connections.
func (s *MariaDBServer) Start() {
	s.tb.Helper()
	s.restart()
}

// mariadbReady is the readiness check: the server's initial handshake packet
// (protocol version 10). A server that is starting up does not listen yet, or
// answers with an error packet.
func mariadbReady(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var hdr [5]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	if hdr[4] != 10 {
		return fmt.Errorf("mariadb: handshake begins with %#x, want protocol version 10", hdr[4])
	}
	return nil
}
