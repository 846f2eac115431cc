package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clusterNodes is the size of the cluster RedisCluster builds: the smallest
// number of masters redis-cli accepts.
const clusterNodes = 3

// maxClusterPort keeps port+10000, the node's cluster bus port, below 65536
// with room to spare.
const maxClusterPort = 55000

// RedisClusterServer is a Redis Cluster of three masters without replicas,
// started by [RedisCluster] and stopped when the test ends. It is safe for
// concurrent use; WaitHealthy and the node methods report failures with
// tb.Fatalf and so belong on the test's goroutine.
type RedisClusterServer struct {
	tb    testing.TB
	nodes []*RedisServer
}

// RedisCluster starts three redis-server processes with cluster mode on, each
// in its own directory, joins them with `redis-cli --cluster create` (the
// 16384 hash slots split evenly, no replicas), and returns once every node
// reports cluster_state:ok and knows all three nodes.
//
// Like [Redis], nodes persist no data, but each keeps its nodes.conf, so a
// node that is stopped and started again rejoins with the same slots (call
// [RedisClusterServer.WaitHealthy] after restarting one). With no replicas,
// the slots of a stopped node are unavailable until it is back.
func RedisCluster(tb testing.TB) *RedisClusterServer {
	tb.Helper()
	cli := lookBinary(tb, "redis-cli")
	Require(tb, "redis-server")

	c := &RedisClusterServer{tb: tb}
	root := tb.TempDir()
	for i := range clusterNodes {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			tb.Fatalf("testserver: %v", err)
		}
		c.nodes = append(c.nodes, startRedis(tb, dir, clusterPort, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
		}))
	}

	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
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
// cluster_state:ok and three known nodes, and fails the test if that does not
// happen within the startup timeout.
func (c *RedisClusterServer) WaitHealthy() {
	c.tb.Helper()
	deadline := time.Now().Add(readyTimeout)
	for _, n := range c.nodes {
		for {
			err := clusterOK(n.Addr())
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

func clusterOK(addr string) error {
	reply, err := redisDo(addr, "CLUSTER", "INFO")
	if err != nil {
		return err
	}
	info, _ := reply.(string)
	want := []string{"cluster_state:ok", fmt.Sprintf("cluster_known_nodes:%d", clusterNodes)}
	for _, w := range want {
		if !strings.Contains(info, w+"\r\n") {
			return fmt.Errorf("CLUSTER INFO lacks %s:\n%s", w, info)
		}
	}
	return nil
}
