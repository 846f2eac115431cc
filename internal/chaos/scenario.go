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

// Timing is how long each phase of a scenario lasts.
type Timing struct {
	Warm  time.Duration // load before the fault
	Down  time.Duration // how long the fault lasts
	After time.Duration // load after the store is back
	Load  LoadConfig
	Nodes int // app nodes behind NGINX (scenarios on one local file use one)
}

// ShortTiming is the CI version: seconds per fault.
var ShortTiming = Timing{Warm: time.Second, Down: time.Second, After: 2 * time.Second,
	Load: LoadConfig{Users: 12, Think: 15 * time.Millisecond, Keys: 4}, Nodes: 2}

// FullTiming is `make chaos`.
var FullTiming = Timing{Warm: 3 * time.Second, Down: 3 * time.Second, After: 5 * time.Second,
	Load: LoadConfig{Users: 32, Think: 10 * time.Millisecond, Keys: 4}, Nodes: 3}

// Env is a running scenario: the store's servers, the app nodes, the
// ledger.
type Env struct {
	TB      testing.TB
	Timing  Timing
	Ledger  *Ledger
	Cluster *Cluster

	Redis     *testserver.RedisServer
	RCluster  *testserver.RedisClusterServer
	Sentinel  *testserver.RedisSentinelServer
	Postgres  *testserver.PostgresServer
	Memcached *testserver.MemcachedServer
	Proxy     *faultproxy.Proxy
}

// Scenario is one fault on one setup.
type Scenario struct {
	Name        string // "redis-server SIGKILL, AOF always"
	Backend     string // what the nodes run on, for the report
	Persistence string // the durability setting, for the report
	Promise     string // what the store promises for acknowledged writes
	LossWindow  time.Duration
	StaleBound  time.Duration // 0: DefaultStaleBound
	OneNode     bool          // one app node (a local store)
	// Setup starts the servers and returns the nodes' configuration.
	Setup func(e *Env) NodeConfig
	// Fault breaks something, waits e.Timing.Down, repairs it, and returns
	// when the store (or node) was back.
	Fault func(e *Env) time.Time
}

// DefaultStaleBound is how long after a logout another node may still serve
// the session: the hybrid tier's invalidation bound (two heartbeats).
const DefaultStaleBound = 2 * time.Second

// Result is what a scenario measured.
type Result struct {
	Scenario *Scenario
	Counts   Counts
	Window   Window
	Details  []string
	Fault    time.Time
	Back     time.Time
	Duration time.Duration
}

// Violations counts what breaks Tether's promises: wrong reads, silent
// logouts, and lost writes the store promised to keep.
func (r Result) Violations() int {
	return r.Counts.WrongReads + r.Counts.Silent + r.Counts.LostWrites
}

// Run runs one scenario: servers, nodes and NGINX up, load, the fault, more
// load, then a read of every user's whole session.
func Run(tb testing.TB, sc *Scenario, timing Timing) Result {
	tb.Helper()
	start := time.Now()
	ledger := &Ledger{LossWindow: sc.LossWindow, StaleBound: sc.StaleBound}
	if ledger.StaleBound == 0 {
		ledger.StaleBound = DefaultStaleBound
	}
	e := &Env{TB: tb, Timing: timing, Ledger: ledger}
	cfg := sc.Setup(e)
	nodes := timing.Nodes
	if sc.OneNode {
		nodes = 1
	}
	e.Cluster = StartCluster(tb, cfg, nodes)

	load := StartLoad(e.Cluster.URL(), timing.Load, ledger, uint64(start.UnixNano()))
	time.Sleep(timing.Warm)
	fault := time.Now()
	back := sc.Fault(e)
	wait := time.Until(back.Add(timing.After))
	time.Sleep(wait)
	end := time.Now()
	load.Stop()
	load.Verify()
	return Result{
		Scenario: sc,
		Counts:   ledger.Counts(),
		Window:   ledger.Window(start, end, back),
		Details:  ledger.Details(),
		Fault:    fault,
		Back:     back,
		Duration: time.Since(start),
	}
}

// Check fails the test on any violation and on a recovery slower than
// within.
func (r Result) Check(tb testing.TB, within time.Duration) {
	tb.Helper()
	c := r.Counts
	tb.Logf("%s: %d requests, %d errors over %v, first good %v after the return, last error %v after; acked writes %d, lost %d (+%d not promised), wrong reads %d, silent logouts %d, sessions lost %d (not promised), lost-reply logouts %d, slowest error %v",
		r.Scenario.Name, c.Requests, c.Errors, r.Window.Span().Round(time.Millisecond), r.Window.FirstGood.Round(time.Millisecond),
		r.Window.LastError.Round(time.Millisecond), c.AckedWrites, c.LostWrites, c.LostExcused, c.WrongReads, c.Silent,
		c.SessionsLost, c.Ambiguous, c.SlowestError.Round(time.Millisecond))
	for _, d := range r.Details {
		tb.Log("  " + d)
	}
	if r.Violations() > 0 {
		tb.Errorf("%s: %d wrong reads, %d silent logouts, %d lost acknowledged writes", r.Scenario.Name, c.WrongReads, c.Silent, c.LostWrites)
	}
	if r.Window.FirstGood > within {
		tb.Errorf("%s: first good response %v after the store's return, want within %v", r.Scenario.Name, r.Window.FirstGood, within)
	}
	if c.AckedWrites == 0 {
		tb.Errorf("%s: no write was acknowledged: the load did not run", r.Scenario.Name)
	}
}

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
				e.Sentinel = testserver.RedisSentinel(e.TB, testserver.WithSentinelDownAfter(time.Second))
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
