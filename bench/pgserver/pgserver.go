// Package pgserver starts a throwaway PostgreSQL for the benchmarks' growth
// run: initdb in a temporary directory, postgres on a free loopback port,
// trust authentication, fsync off (durability is not what is measured).
//
// The main module's internal/testserver does the same for tests; a nested
// module cannot import it. As there, PostgreSQL refuses to run as root, so
// under root initdb and postgres run as the "postgres" user, in a directory
// of their own under os.TempDir.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running postgres. Stop it when done.
type Server struct {
	DSN  string
	base string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start creates a cluster and starts postgres on it, and waits until it
// accepts queries (up to 30 s).
func Start() (*Server, error) {
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return nil, fmt.Errorf("pgserver: %w (install PostgreSQL: scripts/install-deps.sh)", err)
	}
	real, err := filepath.EvalSymlinks(initdb)
	if err != nil {
		real = initdb
	}
	postgres := filepath.Join(filepath.Dir(real), "postgres")
	if _, err := os.Stat(postgres); err != nil {
		if postgres, err = exec.LookPath("postgres"); err != nil {
			return nil, fmt.Errorf("pgserver: %w", err)
		}
	}
	var cred *syscall.Credential
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgserver: running as root, PostgreSQL needs a non-root user: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}
	base, err := os.MkdirTemp("", "tether-bench-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{base: base, done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if err := os.Chmod(base, 0o755); err != nil {
		return fail(err)
	}
	data := filepath.Join(base, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(data, uid, gid); err != nil {
			return fail(err)
		}
	}
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.Dir = base
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgserver: initdb: %v\n%s", err, out))
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(base, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+data,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	s.cmd.Dir = base
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("pgserver: start: %w", err))
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.DSN)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(base, "postgres.log"))
			return fail(fmt.Errorf("pgserver: postgres exited during startup: %s", log))
		default:
		}
		if time.Now().After(deadline) {
			return fail(errors.New("pgserver: postgres did not accept connections within 30s"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills postgres (SIGQUIT, immediate shutdown; SIGKILL after 5 s) and
// removes its directory.
func (s *Server) Stop() error {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
			}
		}
	}
	return os.RemoveAll(s.base)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
