package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clusterMasters is the number of masters RedisCluster builds: the smallest
// number redis-cli accepts.
const clusterMasters = 3

// maxClusterPort keeps port+10000, the node's cluster bus port, below 65536
// with room to spare.
const maxClusterPort = 55000

// RedisClusterServer is a Redis Cluster of three masters, with or without
// replicas, started by [RedisCluster] and stopped when the test ends. It is
// safe for concurrent use; WaitHealthy and the node methods report failures
// with tb.Fatalf and so belong on the test's goroutine.
type RedisClusterServer struct {
	tb    testing.TB
	nodes []*RedisServer
}

// ClusterOption configures [RedisCluster].
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	replicas    int
	nodeTimeout time.Duration
	args        []string
}

// WithClusterReplicas gives every master n replicas (default 0), so the
// cluster fails over when a master dies: after the node timeout, a replica
// of the dead master is elected and takes over its slots.
func WithClusterReplicas(n int) ClusterOption {
	return func(c *clusterConfig) { c.replicas = n }
}

// WithClusterNodeTimeout sets cluster-node-timeout (default 5s): how long a
// master may not answer before it is considered failed and, with replicas,
// replaced. Whole milliseconds.
func WithClusterNodeTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.nodeTimeout = d }
}

// WithClusterArgs appends command-line arguments to every node's
// redis-server, after the package's own; WithClusterArgs("--appendonly",
// "yes") makes data survive a node's restart.
func WithClusterArgs(args ...string) ClusterOption {
	return func(c *clusterConfig) { c.args = append(c.args, args...) }
}

// RedisCluster starts three masters (and with [WithClusterReplicas] their
// replicas), each a redis-server with cluster mode on in its own directory,
// joins them with `redis-cli --cluster create` (the 16384 hash slots split
// evenly among the masters), and returns once every node reports
// cluster_state:ok and knows all the others, and every replica is in sync
// with its master.
//
// Like [Redis], nodes persist no data, but each keeps its nodes.conf, so a
// node that is stopped and started again rejoins (call
// [RedisClusterServer.WaitHealthy] after restarting one): a master that was
// replaced meanwhile comes back as a replica of its successor. Without
// replicas, the slots of a stopped master are unavailable until it is back.
func RedisCluster(tb testing.TB, opts ...ClusterOption) *RedisClusterServer {
	tb.Helper()
	cli := lookBinary(tb, "redis-cli")
	Require(tb, "redis-server")
	cfg := clusterConfig{nodeTimeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}

	c := &RedisClusterServer{tb: tb}
	root := tb.TempDir()
	for i := range clusterMasters * (1 + cfg.replicas) {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			tb.Fatalf("testserver: %v", err)
		}
		args := []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(cfg.nodeTimeout.Milliseconds(), 10),
			// A replica's first sync starts at once, not after the 5 s
			// Redis 7 waits by default for more replicas to join it.
			"--repl-diskless-sync-delay", "0",
		}
		c.nodes = append(c.nodes, startRedis(tb, dir, clusterPort, append(args, cfg.args...)))
	}

	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(cfg.replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("testserver: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitHealthy()
	return c
}

// clusterPort finds a free port whose cluster bus port (port+10000) is free
// too.
func clusterPort() (int, error) {
	for range 200 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port <= maxClusterPort && portFree(port+10000) {
			return port, nil
		}
	}
	return 0, errors.New("no free port p <= 55000 with p+10000 free")
}

// Addrs returns the nodes' addresses ("127.0.0.1:port"), the seed list for a
// cluster client.
func (c *RedisClusterServer) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the individual servers, for tests that stop, kill or restart
// one node. The slice is a copy; the servers are shared.
func (c *RedisClusterServer) Nodes() []*RedisServer {
	return append([]*RedisServer(nil), c.nodes...)
}

// WaitHealthy waits until every node answers CLUSTER INFO with
// cluster_state:ok and knows all the nodes, and every replica is in sync with
// its master, and fails the test if that does not happen within the startup
// timeout.
func (c *RedisClusterServer) WaitHealthy() {
	c.tb.Helper()
	c.waitOK(c.nodes, true)
}

// WaitFailover waits until the cluster serves every slot again without the
// stopped node down: every other node answers CLUSTER INFO with
// cluster_state:ok and sees three masters, none of them down. Call it after stopping
// or killing a master of a cluster with replicas.
func (c *RedisClusterServer) WaitFailover(down *RedisServer) {
	c.tb.Helper()
	var up []*RedisServer
	for _, n := range c.nodes {
		if n != down {
			up = append(up, n)
		}
	}
	c.waitOK(up, false)
	deadline := time.Now().Add(readyTimeout)
	for _, n := range up {
		for {
			masters, err := c.masters(n)
			if err == nil && len(masters) == clusterMasters && !slices.Contains(masters, down.Addr()) {
				break
			}
			if time.Now().After(deadline) {
				c.tb.Fatalf("testserver: %s sees masters %v after %v, want %d without %s: %v",
					n.Addr(), masters, readyTimeout, clusterMasters, down.Addr(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// Masters returns the nodes that serve slots now, as the first node that
// answers sees them: after a failover, a former replica is among them.
func (c *RedisClusterServer) Masters() []*RedisServer {
	c.tb.Helper()
	var lastErr error
	for _, n := range c.nodes {
		addrs, err := c.masters(n)
		if err != nil {
			lastErr = err
			continue
		}
		var out []*RedisServer
		for _, m := range c.nodes {
			if slices.Contains(addrs, m.Addr()) {
				out = append(out, m)
			}
		}
		return out
	}
	c.tb.Fatalf("testserver: CLUSTER NODES: no node answers: %v", lastErr)
	return nil
}

// masters asks n for the addresses of the masters that serve slots.
func (c *RedisClusterServer) masters(n *RedisServer) ([]string, error) {
	reply, err := redisDo(n.Addr(), "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	text, _ := reply.(string)
	var out []string
	for line := range strings.Lines(text) {
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <state> <slot>...
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") || f[7] != "connected" {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		out = append(out, addr)
	}
	return out, nil
}

func (c *RedisClusterServer) waitOK(nodes []*RedisServer, synced bool) {
	c.tb.Helper()
	deadline := time.Now().Add(readyTimeout)
	for _, n := range nodes {
		for {
			err := c.clusterOK(n.Addr(), synced)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				c.tb.Fatalf("testserver: redis cluster not healthy after %v: %s: %v\n%s",
					readyTimeout, n.Addr(), err, n.proc.logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// clusterOK checks one node's view: the cluster is ok and it knows every
// node; with synced, a replica must also have its link to its master up.
func (c *RedisClusterServer) clusterOK(addr string, synced bool) error {
	reply, err := redisDo(addr, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	info, _ := reply.(string)
	want := []string{"cluster_state:ok", fmt.Sprintf("cluster_known_nodes:%d", len(c.nodes))}
	for _, w := range want {
		if !strings.Contains(info, w+"\r\n") {
			return fmt.Errorf("CLUSTER INFO lacks %s:\n%s", w, info)
		}
	}
	if !synced {
		return nil
	}
	reply, err = redisDo(addr, "INFO", "replication")
	if err != nil {
		return err
	}
	repl, _ := reply.(string)
	if strings.Contains(repl, "role:slave\r\n") && !strings.Contains(repl, "master_link_status:up\r\n") {
		return fmt.Errorf("replica not in sync:\n%s", repl)
	}
	return nil
}
