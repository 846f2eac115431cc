package testserver

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SentinelMaster is the name under which [RedisSentinel]'s sentinel monitors
// its master: FailoverOptions.MasterName.
const SentinelMaster = "mymaster"

// RedisSentinelServer is a master, a replica and a Redis Sentinel watching
// them, started by [RedisSentinel] and stopped when the test ends. It is
// safe for concurrent use; the methods that wait report failures with
// tb.Fatalf and so belong on the test's goroutine.
type RedisSentinelServer struct {
	tb       testing.TB
	servers  []*RedisServer // the first was the master at start
	sentinel server         // zero until the sentinel is up
	timeout  time.Duration  // of each wait: the down-after time plus readyTimeout
}

// SentinelOption configures [RedisSentinel].
type SentinelOption func(*sentinelConfig)

type sentinelConfig struct {
	downAfter time.Duration
	args      []string
}

// WithSentinelDownAfter sets down-after-milliseconds (default 5s): how long
// the master may not answer before the sentinel fails it over.
//
// With a quorum of one, a single stall longer than this is a failover. On a
// loaded 2-core CI machine the sentinel's own config fsync has stalled for
// over a second, and a 1s down-after then failed the new master back over to
// the old one (an empty restarted master, promoted). Tests that kill a master
// wait the down-after time; tests that call SENTINEL FAILOVER do not.
func WithSentinelDownAfter(d time.Duration) SentinelOption {
	return func(c *sentinelConfig) { c.downAfter = d }
}

// WithSentinelRedisArgs appends command-line arguments to the master's and
// the replica's redis-server, as [WithRedisArgs] does.
func WithSentinelRedisArgs(args ...string) SentinelOption {
	return func(c *sentinelConfig) { c.args = append(c.args, args...) }
}

// RedisSentinel starts a master, one replica of it, and one sentinel
// (redis-server --sentinel) that monitors the master as [SentinelMaster] with
// a quorum of one, and returns once the replica is in sync and the sentinel
// knows it. When the master dies, the sentinel promotes the replica after
// the down-after time; a client built with go-redis' NewFailoverClient on
// [RedisSentinelServer.SentinelAddrs] follows it. A stopped master that is
// started again comes back as a replica of the new one.
func RedisSentinel(tb testing.TB, opts ...SentinelOption) *RedisSentinelServer {
	tb.Helper()
	cfg := sentinelConfig{downAfter: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	path := lookBinary(tb, "redis-server")
	// Redis 7 waits 5 s (repl-diskless-sync-delay) for more replicas before
	// a full sync; there is only one.
	base := append([]string{"--repl-diskless-sync-delay", "0"}, cfg.args...)
	master := startRedis(tb, tb.TempDir(), freePort, base)
	_, mport, _ := net.SplitHostPort(master.Addr())
	replica := startRedis(tb, tb.TempDir(), freePort, append(append([]string(nil), base...), "--replicaof", "127.0.0.1", mport))
	s := &RedisSentinelServer{tb: tb, servers: []*RedisServer{master, replica}, timeout: cfg.downAfter + readyTimeout}
	s.waitSynced(replica)

	dir := tb.TempDir()
	s.sentinel = launch(tb, "redis-sentinel", freePort, redisPing, syscall.SIGKILL, func(port int) *process {
		conf := filepath.Join(dir, "sentinel.conf")
		err := os.WriteFile(conf, []byte(strings.Join([]string{
			"port " + strconv.Itoa(port),
			"bind 127.0.0.1",
			"protected-mode no",
			"daemonize no",
			"dir " + dir,
			`logfile ""`,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s 1", SentinelMaster, mport),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", SentinelMaster, cfg.downAfter.Milliseconds()),
			fmt.Sprintf("sentinel failover-timeout %s 10000", SentinelMaster),
			fmt.Sprintf("sentinel parallel-syncs %s 1", SentinelMaster),
		}, "\n")+"\n"), 0o644)
		if err != nil {
			tb.Fatalf("testserver: %v", err)
		}
		return &process{
			name:    "redis-sentinel",
			path:    path,
			args:    []string{conf, "--sentinel"},
			dir:     dir,
			logPath: filepath.Join(dir, "sentinel.log"),
		}
	})
	// A failover is the sentinel's decision: when a test fails, its log
	// says which failovers happened and why (+sdown, +switch-master).
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("testserver: sentinel:\n%s", s.sentinel.proc.logTail())
		}
	})
	// Known is not enough: until the sentinel has its own link to the replica
	// and a fresh INFO from it, SENTINEL FAILOVER answers NOGOODSLAVE.
	_, rport, _ := net.SplitHostPort(replica.Addr())
	s.waitFor("the sentinel can promote the replica", func() error {
		reply, err := redisDo(s.sentinel.addr, "SENTINEL", "REPLICAS", SentinelMaster)
		if err != nil {
			return err
		}
		list, _ := reply.([]any)
		for _, r := range list {
			fields, _ := r.([]any)
			kv := map[string]string{}
			for i := 0; i+1 < len(fields); i += 2 {
				kv[fmt.Sprint(fields[i])] = fmt.Sprint(fields[i+1])
			}
			if kv["port"] == rport && kv["flags"] == "slave" && kv["master-link-status"] == "ok" {
				return nil
			}
		}
		return fmt.Errorf("replicas: %v", reply)
	})
	return s
}

// SentinelAddrs returns the sentinel's address, the seed list for
// FailoverOptions.SentinelAddrs.
func (s *RedisSentinelServer) SentinelAddrs() []string { return []string{s.sentinel.addr} }

// Servers returns the master and the replica as started (the master first);
// which one is the master now, ask [RedisSentinelServer.Master].
func (s *RedisSentinelServer) Servers() []*RedisServer {
	return append([]*RedisServer(nil), s.servers...)
}

// Master returns the server the sentinel names as the master now.
func (s *RedisSentinelServer) Master() *RedisServer {
	s.tb.Helper()
	addr, err := s.masterAddr()
	if err != nil {
		s.tb.Fatalf("testserver: sentinel: %v", err)
	}
	for _, r := range s.servers {
		if r.Addr() == addr {
			return r
		}
	}
	s.tb.Fatalf("testserver: the sentinel names %s as master, not one of ours", addr)
	return nil
}

// WaitFailover waits until the sentinel names a master other than old and
// that server answers ROLE as a master: the failover is done.
func (s *RedisSentinelServer) WaitFailover(old *RedisServer) {
	s.tb.Helper()
	s.waitFor("a new master", func() error {
		addr, err := s.masterAddr()
		if err != nil {
			return err
		}
		if addr == old.Addr() {
			return fmt.Errorf("the master is still %s", addr)
		}
		role, err := redisDo(addr, "ROLE")
		if err != nil {
			return err
		}
		if r, _ := role.([]any); len(r) == 0 || r[0] != "master" {
			return fmt.Errorf("%s: ROLE %v", addr, role)
		}
		return nil
	})
}

// WaitSynced waits until r is a replica in sync with its master, as a
// restarted former master becomes once the sentinel reconfigures it. That
// takes about 10 s here (the sentinel lets an instance report itself master
// for 8 s before it converts it), two thirds of the startup timeout alone:
// the waits last the down-after time beyond it.
func (s *RedisSentinelServer) WaitSynced(r *RedisServer) {
	s.tb.Helper()
	s.waitSynced(r)
}

func (s *RedisSentinelServer) waitSynced(r *RedisServer) {
	s.tb.Helper()
	s.waitFor(r.Addr()+" in sync as a replica", func() error {
		reply, err := redisDo(r.Addr(), "INFO", "replication")
		if err != nil {
			return err
		}
		info, _ := reply.(string)
		if !strings.Contains(info, "role:slave\r\n") || !strings.Contains(info, "master_link_status:up\r\n") {
			return fmt.Errorf("not a replica in sync:\n%s", info)
		}
		return nil
	})
}

func (s *RedisSentinelServer) masterAddr() (string, error) {
	reply, err := redisDo(s.sentinel.addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
	if err != nil {
		return "", err
	}
	hp, _ := reply.([]any)
	if len(hp) != 2 {
		return "", fmt.Errorf("GET-MASTER-ADDR-BY-NAME answered %v", reply)
	}
	return net.JoinHostPort(fmt.Sprint(hp[0]), fmt.Sprint(hp[1])), nil
}

// waitFor polls check until it succeeds, and fails the test after
// s.timeout: the down-after time plus the startup timeout, long enough for
// a failover (a down-after of 20s with a fixed 15s wait could never see
// one). The first wait, for the replica's sync, comes before the sentinel
// exists: there is no sentinel log to show then.
func (s *RedisSentinelServer) waitFor(what string, check func() error) {
	s.tb.Helper()
	deadline := time.Now().Add(s.timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log := "(the sentinel is not started yet)"
			if s.sentinel.proc != nil {
				log = s.sentinel.proc.logTail()
			}
			s.tb.Fatalf("testserver: %s: not within %v: %v\n%s", what, s.timeout, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
