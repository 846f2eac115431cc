package testserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	s := Redis(t)
	mustRedis(t, s.Addr(), "OK", "SET", "k", "v")
	mustRedis(t, s.Addr(), "v", "GET", "k")

	s.Stop()
	if _, err := redisDo(s.Addr(), "PING"); err == nil {
		t.Fatal("PING succeeded after Stop")
	}
	s.Stop() // idempotent
	s.Start()
	mustRedis(t, s.Addr(), nil, "GET", "k") // no persistence by default

	mustRedis(t, s.Addr(), "OK", "SET", "k", "v2")
	s.Kill()
	if _, err := redisDo(s.Addr(), "PING"); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	s.Start()
	mustRedis(t, s.Addr(), "PONG", "PING")
}

func TestRedisAppendOnlySurvivesRestart(t *testing.T) {
	t.Parallel()
	s := Redis(t, WithRedisArgs("--appendonly", "yes", "--appendfsync", "always"))
	mustRedis(t, s.Addr(), "OK", "SET", "k", "kept")
	s.Stop()
	s.Start()
	mustRedis(t, s.Addr(), "kept", "GET", "k")
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	c := RedisCluster(t)
	addrs := c.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("Addrs() = %v, want 3 nodes", addrs)
	}
	for _, a := range addrs {
		if err := c.clusterOK(a, true); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	// Keys in every slot range must be writable: follow MOVED redirects.
	for i := range 20 {
		key := fmt.Sprintf("key-%d", i)
		addr := addrs[0]
		_, err := redisDo(addr, "SET", key, "v")
		var moved redisError
		if errors.As(err, &moved) && strings.HasPrefix(string(moved), "MOVED ") {
			addr = strings.Fields(string(moved))[2]
			_, err = redisDo(addr, "SET", key, "v")
		}
		if err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		mustRedis(t, addr, "v", "GET", key)
	}

	// A restarted node rejoins with its slots from nodes.conf.
	n := c.Nodes()[1]
	n.Stop()
	n.Start()
	c.WaitHealthy()
}

// With replicas, a killed master is replaced by its replica, which has its
// data; the old master rejoins as a replica.
func TestRedisClusterFailover(t *testing.T) {
	t.Parallel()
	c := RedisCluster(t, WithClusterReplicas(1), WithClusterNodeTimeout(500*time.Millisecond))
	if n := len(c.Nodes()); n != 6 {
		t.Fatalf("%d nodes, want 6", n)
	}
	masters := c.Masters()
	if len(masters) != 3 {
		t.Fatalf("Masters() = %d nodes, want 3", len(masters))
	}
	victim := masters[0]
	// A key the victim serves, written and replicated.
	var key string
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("key-%d", i)
		if _, err := redisDo(victim.Addr(), "SET", k, "v"); err == nil {
			key = k
		}
	}
	// Replicated: the key is on two nodes. (WAIT would need the writer's
	// connection; redisDo opens a new one per command.)
	deadline := time.Now().Add(5 * time.Second)
	for total := int64(0); total != 2; {
		total = 0
		for _, n := range c.Nodes() {
			if k, err := redisDo(n.Addr(), "DBSIZE"); err == nil {
				total += k.(int64)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %d nodes after 5s, want 2", key, total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.Kill()
	c.WaitFailover(victim)
	after := c.Masters()
	if len(after) != 3 || slices.Contains(after, victim) {
		t.Fatalf("masters after the failover: %d, victim among them: %v", len(after), slices.Contains(after, victim))
	}
	var got []string
	for _, m := range after {
		v, err := redisDo(m.Addr(), "GET", key)
		got = append(got, fmt.Sprintf("%s: %v %v", m.Addr(), v, err))
		if err == nil && v == "v" {
			got = nil
			break
		}
	}
	if got != nil {
		t.Fatalf("%s lost in the failover: %v", key, got)
	}
	victim.Start()
	c.WaitHealthy()
	if slices.Contains(c.Masters(), victim) {
		t.Fatal("the old master came back as a master")
	}
}

func TestMemcached(t *testing.T) {
	t.Parallel()
	s := Memcached(t, WithMemcachedArgs("-I", "2m"))
	mc := func(cmd string) string {
		t.Helper()
		c, err := dial(s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, cmd); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		var out strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: %v after %q", cmd, err, out.String())
			}
			out.WriteString(line)
			if line == "END\r\n" || line == "STORED\r\n" || strings.HasPrefix(line, "ERROR") {
				return out.String()
			}
		}
	}
	if got := mc("set k 0 0 5\r\nhello\r\n"); got != "STORED\r\n" {
		t.Fatalf("set: %q", got)
	}
	if got := mc("get k\r\n"); got != "VALUE k 0 5\r\nhello\r\nEND\r\n" {
		t.Fatalf("get: %q", got)
	}
	if got := mc("stats settings\r\n"); !strings.Contains(got, "STAT item_size_max 2097152\r\n") {
		t.Errorf("WithMemcachedArgs(-I 2m) not applied:\n%s", got)
	}

	s.Stop()
	if _, err := dial(s.Addr()); err == nil {
		t.Fatal("connect succeeded after Stop")
	}
	s.Start()
	if got := mc("get k\r\n"); got != "END\r\n" {
		t.Fatalf("get after restart: %q, want a miss", got)
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	s := Postgres(t)
	if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port()); s.DSN() != want {
		t.Errorf("DSN() = %q, want %q", s.DSN(), want)
	}
	if got := pgQuery(t, s.Addr(), "select 1"); len(got) != 1 || got[0] != "1" {
		t.Fatalf("select 1 = %q", got)
	}
	pgQuery(t, s.Addr(), "create table t (v text); insert into t values ('kept')")

	s.Stop()
	if _, err := dial(s.Addr()); err == nil {
		t.Fatal("connect succeeded after Stop")
	}
	s.Start()
	if got := pgQuery(t, s.Addr(), "select v from t"); len(got) != 1 || got[0] != "kept" {
		t.Fatalf("after restart: %q, want committed row kept", got)
	}

	// The DSN works for a real client too, when one is installed.
	if psql := findBinary("psql"); psql != "" {
		out, err := exec.Command(psql, s.DSN(), "-XAtc", "select 40+2").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "42" {
			t.Errorf("psql: %v: %s", err, out)
		}
	}
}

func TestNginx(t *testing.T) {
	t.Parallel()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend saw %s", r.URL.Path)
	}))
	defer backend.Close()

	s := Nginx(t, `
		upstream app { server `+backend.Listener.Addr().String()+`; }
		server {
			listen `+NginxListen+`;
			location / { proxy_pass http://app; }
		}`)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (string, error) {
		resp, err := client.Get("http://" + s.Addr() + "/hello")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %s: %s", resp.Status, b)
		}
		return string(b), err
	}
	if body, err := get(); err != nil || body != "backend saw /hello" {
		t.Fatalf("GET through nginx = %q, %v", body, err)
	}
	s.Stop()
	if _, err := get(); err == nil {
		t.Fatal("GET succeeded after Stop")
	}
	s.Start()
	if body, err := get(); err != nil || body != "backend saw /hello" {
		t.Fatalf("GET after restart = %q, %v", body, err)
	}
}

// TestCleanupStopsServer checks that a server does not outlive its test.
func TestCleanupStopsServer(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = Memcached(t).Addr()
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("memcached still listening on %s after its test ended", addr)
	}
}

func TestFreePort(t *testing.T) {
	t.Parallel()
	p := FreePort(t)
	if !portFree(p) {
		t.Fatalf("FreePort returned %d, which cannot be bound", p)
	}
	if p2, err := clusterPort(); err != nil || p2 > maxClusterPort || !portFree(p2+10000) {
		t.Fatalf("clusterPort() = %d, %v", p2, err)
	}
}

func TestNginxRequiresPlaceholder(t *testing.T) {
	t.Parallel()
	tb := &recordingTB{TB: t}
	runTB(func() { Nginx(tb, "server { listen 127.0.0.1:1; }") })
	if !strings.Contains(tb.fatal, NginxListen) {
		t.Fatalf("Nginx without placeholder: fatal = %q", tb.fatal)
	}
}

// TestRequire cannot run in parallel: it sets CI.
func TestRequire(t *testing.T) {
	const name = "tether-no-such-binary"

	t.Setenv("CI", "")
	tb := &recordingTB{TB: t}
	runTB(func() { Require(tb, name) })
	if !strings.Contains(tb.skip, name+" not installed") || tb.fatal != "" {
		t.Errorf("outside CI: skip = %q, fatal = %q; want a skip", tb.skip, tb.fatal)
	}

	t.Setenv("CI", "true")
	tb = &recordingTB{TB: t}
	runTB(func() { Require(tb, name) })
	if !strings.Contains(tb.fatal, name+" not installed") || tb.skip != "" {
		t.Errorf("in CI: skip = %q, fatal = %q; want a failure", tb.skip, tb.fatal)
	}

	tb = &recordingTB{TB: t}
	runTB(func() { Require(tb, "sh") })
	if tb.skip != "" || tb.fatal != "" {
		t.Errorf("present binary: skip = %q, fatal = %q", tb.skip, tb.fatal)
	}
}

// recordingTB records Fatalf and Skipf instead of ending the test, and stops
// the function under test the way the real ones do, via runTB.
type recordingTB struct {
	testing.TB
	fatal, skip string
}

type stopTB struct{}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(stopTB{})
}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	panic(stopTB{})
}

func runTB(f func()) {
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stopTB); !ok {
				panic(v)
			}
		}
	}()
	f()
}

// mustRedis runs a command and compares its reply with want.
func mustRedis(t *testing.T, addr string, want any, args ...string) {
	t.Helper()
	got, err := redisDo(addr, args...)
	if err != nil {
		t.Fatalf("%s on %s: %v", strings.Join(args, " "), addr, err)
	}
	if got != want {
		t.Fatalf("%s on %s = %#v, want %#v", strings.Join(args, " "), addr, got, want)
	}
}

// pgQuery runs sql with the simple query protocol and returns the first
// column of every row.
func pgQuery(t *testing.T, addr, sql string) []string {
	t.Helper()
	c, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := pgStartup(c, "postgres", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte{'Q'}, binary.BigEndian.AppendUint32(nil, uint32(4+len(sql)+1))...)
	msg = append(append(msg, sql...), 0)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	var rows []string
	var qerr error
	for {
		typ, payload, err := pgRead(r)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		switch typ {
		case 'D':
			if len(payload) < 6 {
				t.Fatalf("short DataRow %q", payload)
			}
			n := int32(binary.BigEndian.Uint32(payload[2:6]))
			if n < 0 {
				rows = append(rows, "NULL")
			} else {
				rows = append(rows, string(payload[6:6+n]))
			}
		case 'E':
			qerr = pgError(payload)
		case 'Z':
			_ = pgTerminate(c)
			if qerr != nil {
				t.Fatalf("%s: %v", sql, qerr)
			}
			return rows
		}
	}
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	s := MariaDB(t)
	if want := fmt.Sprintf("root@tcp(127.0.0.1:%d)/mysql", s.Port()); s.DSN() != want {
		t.Errorf("DSN() = %q, want %q", s.DSN(), want)
	}
	if err := mariadbReady(s.Addr()); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	client := findBinary("mariadb")
	sql := func(q string) string {
		t.Helper()
		out, err := exec.Command(client, "--no-defaults", "-h127.0.0.1", fmt.Sprintf("-P%d", s.Port()), "-uroot", "-N", "-B", "-e", q).CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb -e %q: %v: %s", q, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if client != "" {
		if got := sql("select 40+2"); got != "42" {
			t.Fatalf("select 40+2 = %q", got)
		}
		sql("create database d; create table d.t (v text) engine=InnoDB; insert into d.t values ('kept')")
	}

	s.Stop()
	if _, err := dial(s.Addr()); err == nil {
		t.Fatal("connect succeeded after Stop")
	}
	s.Start()
	if client != "" {
		if got := sql("select v from d.t"); got != "kept" {
			t.Fatalf("after restart: %q, want the committed row kept", got)
		}
	}
}

// The sentinel promotes the replica when the master dies, with its data, and
// the old master comes back as a replica of the new one.
func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	s := RedisSentinel(t)
	old := s.Master()
	if old != s.Servers()[0] {
		t.Fatalf("master at start is %s, want the first server", old.Addr())
	}
	mustRedis(t, old.Addr(), "OK", "SET", "k", "v")
	replica := s.Servers()[1]
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, err := redisDo(replica.Addr(), "GET", "k"); err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("k not replicated within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	old.Kill()
	s.WaitFailover(old)
	if s.Master() != replica {
		t.Fatalf("new master %s, want the replica %s", s.Master().Addr(), replica.Addr())
	}
	mustRedis(t, replica.Addr(), "v", "GET", "k")
	old.Start()
	s.WaitSynced(old)
}
