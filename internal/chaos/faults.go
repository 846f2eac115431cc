package chaos

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/faultproxy"
	"github.com/tether-go/tether/internal/testserver"
)

// redisNode is the node configuration for a store at addr.
func redisNode(addr string, hybrid bool) NodeConfig {
	return NodeConfig{Backend: BackendRedis, Addrs: []string{addr}, Hybrid: hybrid, Prefix: "chaos:"}
}

// redisKill is SIGKILL and restart of e.Redis.
func redisKill(e *Env) time.Time {
	e.Redis.Kill()
	e.Ledger.Crash(time.Now())
	time.Sleep(e.Timing.Down)
	e.Redis.Start()
	return time.Now()
}

// redisWithAOF starts a redis-server with the given appendfsync policy ("" for no persistence).
func redisWithAOF(fsync string) func(e *Env) NodeConfig {
	return func(e *Env) NodeConfig {
		var opts []testserver.RedisOption
		if fsync != "" {
			opts = append(opts, testserver.WithRedisArgs("--appendonly", "yes", "--appendfsync", fsync))
		}
		e.Redis = testserver.Redis(e.TB, opts...)
		return redisNode(e.Redis.Addr(), false)
	}
}

// behindProxy starts a redis-server with AOF always and a fault proxy in
// front of it, which the nodes dial.
func behindProxy(e *Env) NodeConfig {
	e.Redis = testserver.Redis(e.TB, testserver.WithRedisArgs("--appendonly", "yes", "--appendfsync", "always"))
	p, err := faultproxy.New(e.Redis.Addr())
	if err != nil {
		e.TB.Fatal(err)
	}
	e.TB.Cleanup(func() { p.Close() })
	e.Proxy = p
	return redisNode(p.Addr(), false)
}

// killPubSub cuts every pub/sub connection on the server (the hybrid
// tier's invalidation feed), as a proxy or failover would.
func killPubSub(tb testing.TB, addr string) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.ClientKillByFilter(context.Background(), "TYPE", "pubsub").Err(); err != nil {
		tb.Errorf("CLIENT KILL TYPE pubsub: %v", err)
	}
}

// Scenarios returns every fault `make chaos` runs, in report order.
func Scenarios() []*Scenario {
	durable := "every acknowledged write"
	return []*Scenario{
		{
			Name: "redis-server SIGKILL + restart", Backend: "redis", Persistence: "AOF appendfsync always",
			Promise: durable, Setup: redisWithAOF("always"), Fault: redisKill,
		},
		{
			Name: "redis-server SIGKILL + restart", Backend: "redis", Persistence: "AOF appendfsync everysec",
			Promise: "writes older than ~1 s (up to 2 s)", LossWindow: 2 * time.Second,
			Setup: redisWithAOF("everysec"), Fault: redisKill,
		},
		{
			Name: "redis-server SIGKILL + restart", Backend: "redis", Persistence: "none",
			Promise: "nothing: every session is lost", LossWindow: Forever,
			Setup: redisWithAOF(""), Fault: redisKill,
		},
		{
			Name: "redis-server SIGKILL + restart, go-redis defaults", Backend: "redis", Persistence: "AOF appendfsync always",
			Promise: durable,
			Setup: func(e *Env) NodeConfig {
				cfg := redisWithAOF("always")(e)
				cfg.RedisDefaults = true
				return cfg
			},
			Fault: redisKill,
		},
		{
			Name: "Redis Cluster master SIGKILL, replica takes over", Backend: "redis cluster (3 masters + 3 replicas)",
			Persistence: "none; asynchronous replication", Promise: "writes replicated before the kill (~1 s)",
			LossWindow: time.Second,
			Setup: func(e *Env) NodeConfig {
				e.RCluster = testserver.RedisCluster(e.TB, testserver.WithClusterReplicas(1),
					testserver.WithClusterNodeTimeout(time.Second))
				return NodeConfig{Backend: BackendCluster, Addrs: e.RCluster.Addrs(), Prefix: "chaos:"}
			},
			Fault: func(e *Env) time.Time {
				victim := e.RCluster.Masters()[0]
				victim.Kill()
				e.Ledger.Crash(time.Now())
				e.RCluster.WaitFailover(victim)
				back := time.Now()
				victim.Start() // rejoins as a replica
				return back
			},
		},
		{
			Name: "Sentinel failover: master SIGKILL, replica promoted", Backend: "redis sentinel (master + replica)",
			Persistence: "none; asynchronous replication", Promise: "writes replicated before the kill (~1 s)",
			LossWindow: time.Second,
			Setup: func(e *Env) NodeConfig {
				// down-after 5 s (testserver's default), not 1 s: with one
				// sentinel, a 1 s stall of this loaded machine right after the
				// failover made it fail the new master back to the restarted,
				// empty old one (every session gone at once; seen in a full run).
				e.Sentinel = testserver.RedisSentinel(e.TB)
				return NodeConfig{Backend: BackendSentinel, Addrs: e.Sentinel.SentinelAddrs(), Prefix: "chaos:"}
			},
			Fault: func(e *Env) time.Time {
				victim := e.Sentinel.Master()
				victim.Kill()
				e.Ledger.Crash(time.Now())
				e.Sentinel.WaitFailover(victim)
				back := time.Now()
				victim.Start()
				return back
			},
		},
		{
			Name: "postgres immediate shutdown + restart", Backend: "postgres", Persistence: "WAL, synchronous_commit on",
			Promise: durable, Setup: postgresSetup,
			Fault: func(e *Env) time.Time {
				e.Postgres.Stop()
				e.Ledger.Crash(time.Now())
				time.Sleep(e.Timing.Down)
				e.Postgres.Start()
				return time.Now()
			},
		},
		{
			Name: "memcached SIGKILL + restart", Backend: "memcached", Persistence: "none (memory only)",
			Promise: "nothing: every session is lost", LossWindow: Forever, Setup: memcachedSetup,
			Fault: func(e *Env) time.Time {
				e.Memcached.Kill()
				e.Ledger.Crash(time.Now())
				time.Sleep(e.Timing.Down)
				e.Memcached.Start()
				return time.Now()
			},
		},
		{
			Name: "network: +300 ms latency each way", Backend: "redis via fault proxy", Persistence: "AOF appendfsync always",
			Promise: durable, Setup: behindProxy,
			Fault: func(e *Env) time.Time {
				e.Proxy.SetLatency(300 * time.Millisecond)
				time.Sleep(e.Timing.Down)
				e.Proxy.SetLatency(0)
				return time.Now()
			},
		},
		{
			Name: "network: stall (bytes held, then delivered)", Backend: "redis via fault proxy", Persistence: "AOF appendfsync always",
			Promise: durable, Setup: behindProxy,
			Fault: func(e *Env) time.Time {
				e.Proxy.Freeze()
				time.Sleep(e.Timing.Down)
				e.Proxy.Thaw()
				return time.Now()
			},
		},
		{
			Name: "network: connection resets (RST every 200 ms)", Backend: "redis via fault proxy", Persistence: "AOF appendfsync always",
			Promise: durable, Setup: behindProxy,
			Fault: func(e *Env) time.Time {
				end := time.Now().Add(e.Timing.Down)
				for time.Now().Before(end) {
					e.Proxy.Reset()
					time.Sleep(200 * time.Millisecond)
				}
				return time.Now()
			},
		},
		{
			Name: "network: black hole (nothing answered)", Backend: "redis via fault proxy", Persistence: "AOF appendfsync always",
			Promise: durable, Setup: behindProxy,
			Fault: func(e *Env) time.Time {
				e.Proxy.BlackHole(true)
				time.Sleep(e.Timing.Down)
				e.Proxy.BlackHole(false)
				return time.Now()
			},
		},
		{
			Name: "hybrid: invalidation subscriptions cut", Backend: "hybrid over redis", Persistence: "AOF appendfsync always",
			Promise: durable,
			Setup: func(e *Env) NodeConfig {
				cfg := redisWithAOF("always")(e)
				cfg.Hybrid = true
				return cfg
			},
			Fault: func(e *Env) time.Time {
				end := time.Now().Add(e.Timing.Down)
				for time.Now().Before(end) {
					killPubSub(e.TB, e.Redis.Addr())
					time.Sleep(500 * time.Millisecond)
				}
				return time.Now()
			},
		},
		{
			Name: "app node SIGKILL + restart behind NGINX", Backend: "hybrid over redis", Persistence: "AOF appendfsync always",
			Promise: durable,
			Setup: func(e *Env) NodeConfig {
				cfg := redisWithAOF("always")(e)
				cfg.Hybrid = true
				return cfg
			},
			Fault: nodeKill,
		},
		{
			Name: "app node SIGKILL + restart (its own bbolt file)", Backend: "bolt (one node)", Persistence: "bbolt, fsync before each answer",
			Promise: durable, OneNode: true,
			Setup: func(e *Env) NodeConfig {
				return NodeConfig{Backend: BackendBolt, Bolt: filepath.Join(e.TB.TempDir(), "sessions.db")}
			},
			Fault: nodeKill,
		},
	}
}

// nodeKill SIGKILLs the first app node and restarts it after the downtime.
func nodeKill(e *Env) time.Time {
	n := e.Cluster.Nodes[0]
	n.Kill()
	e.Ledger.Crash(time.Now())
	time.Sleep(e.Timing.Down)
	n.Start()
	return time.Now()
}

func postgresSetup(e *Env) NodeConfig {
	e.Postgres = testserver.Postgres(e.TB)
	return NodeConfig{Backend: BackendPostgres, DSN: e.Postgres.DSN(), Prefix: "chaos_sessions"}
}

func memcachedSetup(e *Env) NodeConfig {
	e.Memcached = testserver.Memcached(e.TB)
	return NodeConfig{Backend: BackendMemcached, Addrs: []string{e.Memcached.Addr()}, Prefix: "chaos:"}
}
