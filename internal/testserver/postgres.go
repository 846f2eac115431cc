package testserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// PostgresServer is a PostgreSQL server started by [Postgres] and stopped
// when the test ends. It is safe for concurrent use, but Stop and Start
// report failures with tb.Fatalf and so belong on the test's goroutine.
type PostgresServer struct {
	server
}

// Postgres creates a fresh cluster with initdb in a new temporary directory
// and starts the postgres server on a free loopback port. The superuser is
// "postgres" with trust authentication, so [PostgresServer.DSN] needs no
// password.
//
// The server is tuned for tests, not durability: fsync and full_page_writes
// are off. synchronous_commit stays on, so a commit's WAL has reached the
// kernel before the client hears of it and survives [PostgresServer.Stop],
// which kills the server like a crash. It listens on 127.0.0.1 only, with its Unix
// socket in the data directory so it never collides with a system
// PostgreSQL in /var/run/postgresql.
//
// PostgreSQL refuses to run as root. When the test runs as root, initdb and
// postgres run as the "postgres" user (the test is skipped, or fails in CI,
// if there is none). That user must reach the data directory, so it lives in
// a directory of its own under os.TempDir (mode 0755; $TMPDIR, if set, must
// be traversable too) rather than in t.TempDir, whose parents are 0700. The
// directory is removed at cleanup; a test binary killed outright leaves it
// behind as /tmp/tether-pg-*.
func Postgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	initdb := lookBinary(tb, "initdb")
	postgres := siblingBinary(initdb, "postgres")
	if postgres == "" {
		postgres = lookBinary(tb, "postgres")
	}

	var cred *syscall.Credential
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(tb, "running as root, PostgreSQL needs a non-root user and there is no %q user: %v", "postgres", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}

	base, err := os.MkdirTemp("", "tether-pg-")
	if err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	// Registered before the server's cleanup, so it runs after it.
	tb.Cleanup(func() { removeAll(tb, base) })
	if err := os.Chmod(base, 0o755); err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	dataDir := filepath.Join(base, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		tb.Fatalf("testserver: %v", err)
	}
	if cred != nil {
		if err := os.Chown(dataDir, uid, gid); err != nil {
			tb.Fatalf("testserver: %v", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, initdb,
		"-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	cmd.Dir = base // initdb resolves its cwd; the test's may be unreadable for postgres
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("testserver: %s: %v\n%s", cmd, err, out)
	}

	srv := launch(tb, "postgres", freePort, pgReady, syscall.SIGQUIT, func(port int) *process {
		return &process{
			name: "postgres",
			path: postgres,
			args: []string{
				"-D", dataDir,
				"-p", strconv.Itoa(port),
				"-c", "listen_addresses=127.0.0.1",
				"-c", "unix_socket_directories=" + dataDir,
				"-c", "fsync=off",
				"-c", "full_page_writes=off",
			},
			dir:     base,
			logPath: filepath.Join(base, "postgres.log"),
			cred:    cred,
		}
	})
	return &PostgresServer{server: srv}
}

// siblingBinary returns name from the directory initdb really lives in, so
// initdb and postgres are of the same major version even when several are
// installed; "" if there is none.
func siblingBinary(initdb, name string) string {
	real, err := filepath.EvalSymlinks(initdb)
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(real), name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// DSN returns a connection URL for the postgres superuser and database,
// suitable for pgxpool.New:
// postgres://postgres@127.0.0.1:port/postgres?sslmode=disable.
func (s *PostgresServer) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port returns the TCP port the server listens on. It does not change across
// Stop and Start.
func (s *PostgresServer) Port() int { return s.port }

// Addr returns the server's address, "127.0.0.1:port".
func (s *PostgresServer) Addr() string { return s.addr }

// Stop shuts the server down in "immediate" mode (SIGQUIT, what `pg_ctl stop
// -m immediate` sends): connections are cut and nothing is checkpointed, as
// in a crash. SIGKILL follows after a timeout. Stopping a stopped server does
// nothing.
func (s *PostgresServer) Stop() {
	s.tb.Helper()
	s.shutdown(syscall.SIGQUIT)
}

// Start restarts a stopped server on the same port and data directory and
// waits until it accepts connections. Committed data survives (the server
// runs crash recovery from its WAL); with fsync off that holds for a process
// stop, not for a machine crash, which tests do not simulate.
func (s *PostgresServer) Start() {
	s.tb.Helper()
	s.restart()
}

// pgReady is the readiness check: a full startup handshake up to
// ReadyForQuery. Merely accepting TCP is not enough — during startup and
// recovery the server accepts and then refuses with "the database system is
// starting up".
func pgReady(addr string) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = pgStartup(c, "postgres", "postgres")
	if err == nil {
		_ = pgTerminate(c)
	}
	return err
}

// pgStartup performs the protocol 3.0 startup on c for user and database
// with trust authentication, reading up to ReadyForQuery. It returns the
// reader to use for further messages.
func pgStartup(c net.Conn, user, database string) (*bufio.Reader, error) {
	var body bytes.Buffer
	_ = binary.Write(&body, binary.BigEndian, int32(196608)) // protocol 3.0
	for _, s := range []string{"user", user, "database", database, ""} {
		body.WriteString(s)
		body.WriteByte(0)
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(body.Len()+4))
	if _, err := c.Write(append(msg, body.Bytes()...)); err != nil {
		return nil, err
	}
	r := bufio.NewReader(c)
	for {
		typ, payload, err := pgRead(r)
		if err != nil {
			return nil, err
		}
		switch typ {
		case 'R':
			if len(payload) < 4 {
				return nil, fmt.Errorf("postgres: short authentication message")
			}
			if code := binary.BigEndian.Uint32(payload); code != 0 {
				return nil, fmt.Errorf("postgres: server asks for authentication method %d, want trust", code)
			}
		case 'E':
			return nil, pgError(payload)
		case 'Z':
			return r, nil
		}
	}
}

// pgRead reads one backend message: its type byte and payload.
func pgRead(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n < 4 || n > 1<<20 {
		return 0, nil, fmt.Errorf("postgres: message %q with implausible length %d", hdr[0], n)
	}
	payload := make([]byte, n-4)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

// pgError turns an ErrorResponse payload into an error with its SQLSTATE and
// message.
func pgError(payload []byte) error {
	var code, msg string
	for _, field := range bytes.Split(payload, []byte{0}) {
		if len(field) == 0 {
			continue
		}
		switch field[0] {
		case 'C':
			code = string(field[1:])
		case 'M':
			msg = string(field[1:])
		}
	}
	return fmt.Errorf("postgres: %s (SQLSTATE %s)", msg, code)
}

// pgTerminate says goodbye politely, so the server log is not full of
// "unexpected EOF on client connection".
func pgTerminate(c net.Conn) error {
	_, err := c.Write([]byte{'X', 0, 0, 0, 4})
	return err
}
