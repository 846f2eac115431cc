package testserver

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// RedisServer is a redis-server started by [Redis] and stopped when the test
// ends. It is safe for concurrent use, but Stop, Start and Kill report
// failures with tb.Fatalf and so belong on the test's goroutine.
type RedisServer struct {
	server
	dir string
}

// RedisOption configures [Redis].
type RedisOption func(*redisConfig)

type redisConfig struct {
	args []string
}

// WithRedisArgs appends command-line arguments to redis-server, after the
// package's own, so they override them. For example
// WithRedisArgs("--appendonly", "yes") makes data survive Stop and Start.
func WithRedisArgs(args ...string) RedisOption {
	return func(c *redisConfig) { c.args = append(c.args, args...) }
}

// Redis starts a single redis-server on a free loopback port.
//
// By default the server persists nothing (`--save "" --appendonly no`), so
// [RedisServer.Start] after [RedisServer.Stop] or [RedisServer.Kill] brings
// back an empty server; pass WithRedisArgs("--appendonly", "yes") for data
// that survives a restart. Protected mode is off and the server binds only
// 127.0.0.1.
func Redis(tb testing.TB, opts ...RedisOption) *RedisServer {
	tb.Helper()
	var cfg redisConfig
	for _, o := range opts {
		o(&cfg)
	}
	return startRedis(tb, tb.TempDir(), freePort, cfg.args)
}

// startRedis starts redis-server in dir on a port from pickPort (see
// [launch]), with extra appended to the package's arguments.
func startRedis(tb testing.TB, dir string, pickPort func() (int, error), extra []string) *RedisServer {
	tb.Helper()
	path := lookBinary(tb, "redis-server")
	srv := launch(tb, "redis-server", pickPort, redisPing, syscall.SIGTERM, func(port int) *process {
		args := []string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--dir", dir,
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--protected-mode", "no",
			"--logfile", "", // stdout, which goes to the log file below
		}
		return &process{
			name:    "redis-server",
			path:    path,
			args:    append(args, extra...),
			dir:     dir,
			logPath: filepath.Join(dir, "redis.log"),
		}
	})
	return &RedisServer{server: srv, dir: dir}
}

// Addr returns the server's address, "127.0.0.1:port". It does not change
// across Stop and Start.
func (s *RedisServer) Addr() string { return s.addr }

// Dir returns the server's working directory, where RDB and AOF files go.
func (s *RedisServer) Dir() string { return s.dir }

// Stop shuts the server down with SIGTERM (SIGKILL after a timeout) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *RedisServer) Stop() {
	s.tb.Helper()
	s.shutdown(syscall.SIGTERM)
}

// Kill ends the server with SIGKILL, as a crash would: nothing is flushed.
func (s *RedisServer) Kill() {
	s.tb.Helper()
	s.shutdown(syscall.SIGKILL)
}

// Start restarts a stopped server on the same address and in the same
// directory, and waits until it answers PING. Whether data survives depends
// on the persistence options (none by default). If another process took the
// port while the server was down, the test fails.
func (s *RedisServer) Start() {
	s.tb.Helper()
	s.restart()
}

// redisPing is the readiness check: PING must answer +PONG (a server still
// loading its data set answers -LOADING).
func redisPing(addr string) error {
	reply, err := redisDo(addr, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// redisError is an error reply ("-ERR ...") from the server.
type redisError string

func (e redisError) Error() string { return "redis: " + string(e) }

// redisDo sends one command on a fresh connection and returns the reply:
// string for simple and bulk strings, int64 for integers, nil for a null
// reply, []any for arrays, and a redisError for an error reply.
func redisDo(addr string, args ...string) (any, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return readRESP(bufio.NewReader(c))
}

func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("redis: malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, redisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("redis: bad length in %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '*' {
			items := make([]any, 0, min(n, 1024))
			for range n {
				item, err := readRESP(r)
				if err != nil {
					return nil, err
				}
				items = append(items, item)
			}
			return items, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	default:
		return nil, fmt.Errorf("redis: unexpected reply %q", line)
	}
}

// CommandStats returns the server's INFO commandstats as calls per command
// ("hgetall", "client|kill"), leaving out what tests and client connection
// setup send (INFO, CONFIG, CLIENT, HELLO, PING, SELECT): what is left is what
// the code under test sent. Pair it with ResetStats.
func (s *RedisServer) CommandStats(tb testing.TB) map[string]int64 {
	tb.Helper()
	reply, err := redisDo(s.addr, "INFO", "commandstats")
	if err != nil {
		tb.Fatalf("testserver: INFO commandstats: %v", err)
	}
	info, _ := reply.(string)
	stats := map[string]int64{}
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		switch cmd, _, _ := strings.Cut(name, "|"); cmd {
		case "info", "config", "client", "hello", "ping", "select":
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			tb.Fatalf("testserver: commandstats line %q: %v", line, err)
		}
		stats[name] = n
	}
	return stats
}

// ResetStats zeroes the server's statistics (CONFIG RESETSTAT).
func (s *RedisServer) ResetStats(tb testing.TB) {
	tb.Helper()
	if _, err := redisDo(s.addr, "CONFIG", "RESETSTAT"); err != nil {
		tb.Fatalf("testserver: CONFIG RESETSTAT: %v", err)
	}
}
