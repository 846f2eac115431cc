package chaos

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/faultproxy"
)

// SoakResult is what the soak measured.
type SoakResult struct {
	Duration time.Duration
	Period   time.Duration // between faults
	Counts   Counts
	Details  []string
	Faults   []SoakFault
	// Start and End are the resources of the nodes that were never killed,
	// after the warm-up and after the load stopped; RedisClients the
	// connections Redis counted at the same moments.
	Start, End                  []Runtime
	RedisClientsStart, RedisEnd int
}

// SoakFault is one fault of the soak and its error window.
type SoakFault struct {
	Name   string
	At     time.Duration // since the soak began
	Window Window
}

// soakFault is one of the faults the soak cycles through.
type soakFault struct {
	name   string
	inject func(e *Env, p *faultproxy.Proxy, down time.Duration) time.Time
}

var soakFaults = []soakFault{
	{"redis-server SIGKILL + restart", func(e *Env, _ *faultproxy.Proxy, down time.Duration) time.Time {
		return redisKill(e)
	}},
	{"invalidation subscriptions cut", func(e *Env, _ *faultproxy.Proxy, _ time.Duration) time.Time {
		killPubSub(e.TB, e.Redis.Addr())
		return time.Now()
	}},
	{"network stall", func(e *Env, p *faultproxy.Proxy, down time.Duration) time.Time {
		p.Freeze()
		time.Sleep(down)
		p.Thaw()
		return time.Now()
	}},
	{"app node SIGKILL + restart", func(e *Env, _ *faultproxy.Proxy, down time.Duration) time.Time {
		n := e.Cluster.Nodes[len(e.Cluster.Nodes)-1] // the others are measured
		n.Kill()
		time.Sleep(down)
		n.Start()
		return time.Now()
	}},
	{"network black hole", func(e *Env, p *faultproxy.Proxy, down time.Duration) time.Time {
		p.BlackHole(true)
		time.Sleep(down)
		p.BlackHole(false)
		return time.Now()
	}},
	{"connection resets", func(e *Env, p *faultproxy.Proxy, _ time.Duration) time.Time {
		p.Reset()
		return time.Now()
	}},
}

// Soak runs hybrid over Redis (AOF always, through a fault proxy) on
// timing.Nodes nodes for d, with a fault every period, cycling through
// soakFaults.
func Soak(tb testing.TB, d, period time.Duration, timing Timing) SoakResult {
	tb.Helper()
	begin := time.Now()
	ledger := &Ledger{StaleBound: DefaultStaleBound}
	e := &Env{TB: tb, Timing: timing, Ledger: ledger}
	cfg := behindProxy(e)
	cfg.Hybrid = true
	e.Cluster = StartCluster(tb, cfg, max(timing.Nodes, 2))
	lc := timing.Load
	lc.Direct = e.Cluster.Direct()
	load := StartLoad(e.Cluster.URL(), lc, ledger, uint64(begin.UnixNano()))
	time.Sleep(timing.Warm)

	measured := e.Cluster.Nodes[:len(e.Cluster.Nodes)-1]
	res := SoakResult{Period: period}
	res.Start = runtimes(tb, measured)
	res.RedisClientsStart = redisClients(tb, e.Redis.Addr())

	end := begin.Add(d)
	for i := 0; time.Now().Add(period).Before(end); i++ {
		time.Sleep(period / 2)
		f := soakFaults[i%len(soakFaults)]
		at := time.Now()
		back := f.inject(e, e.Proxy, timing.Down)
		time.Sleep(period / 2)
		res.Faults = append(res.Faults, SoakFault{Name: f.name, At: at.Sub(begin), Window: ledger.Window(at, time.Now(), back)})
	}
	time.Sleep(time.Until(end))
	load.Stop()
	load.Verify()
	time.Sleep(5 * time.Second) // idle connections and goroutines wind down
	res.End = runtimes(tb, measured)
	res.RedisEnd = redisClients(tb, e.Redis.Addr())
	res.Duration = time.Since(begin)
	res.Counts = ledger.Counts()
	res.Details = ledger.Details()
	return res
}

func runtimes(tb testing.TB, nodes []*Node) []Runtime {
	var out []Runtime
	for _, n := range nodes {
		rt, err := n.Runtime()
		if err != nil {
			tb.Errorf("runtime of %s: %v", n.Name(), err)
		}
		out = append(out, rt)
	}
	return out
}

// redisClients is Redis' connected_clients, less the one asking.
func redisClients(tb testing.TB, addr string) int {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "clients").Result()
	if err != nil {
		tb.Errorf("INFO clients: %v", err)
		return 0
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n - 1
		}
	}
	return 0
}
