package chaos

import (
	"testing"
	"time"

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

	lc := timing.Load
	lc.Direct = e.Cluster.Direct()
	load := StartLoad(e.Cluster.URL(), lc, ledger, uint64(start.UnixNano()))
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
	tb.Logf("%s: %d requests, %d errors over %v, first good %v after the return, last error %v after; acked writes %d, lost %d (+%d not promised), wrong reads %d, silent logouts %d, sessions lost %d (not promised), lost-reply logouts %d, slowest error %v, ended tokens replayed %d (served within the bound %d)",
		r.Scenario.Name, c.Requests, c.Errors, r.Window.Span().Round(time.Millisecond), r.Window.FirstGood.Round(time.Millisecond),
		r.Window.LastError.Round(time.Millisecond), c.AckedWrites, c.LostWrites, c.LostExcused, c.WrongReads, c.Silent,
		c.SessionsLost, c.Ambiguous, c.SlowestError.Round(time.Millisecond), c.DeadProbes, c.StaleInBound)
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
