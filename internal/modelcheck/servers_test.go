package modelcheck_test

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/faultproxy"
	"github.com/tether-go/tether/internal/modelcheck"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
	"github.com/tether-go/tether/store/pgstore"
	"github.com/tether-go/tether/store/redisstore"
)

// The real backends run in real time (the servers keep their own clocks),
// still within a round: rotation due every round, grace 250 ms, two runs of
// 250 rounds (a few seconds). Under `make stress` (TETHER_STRESS) each also runs through a
// fault proxy that loses replies and stalls links.
func serverConfig() modelcheck.Config {
	return modelcheck.Config{Clients: 4, Rounds: 250, StoreTimeout: time.Second}
}

// crossNode is the allowance between two hybrid nodes: how long after a
// change on one node the other may still serve what it cached before (the
// invalidation's trip through the server). TETHER_CROSS_NODE overrides it.
func crossNode(t *testing.T, def time.Duration) time.Duration {
	if s := os.Getenv("TETHER_CROSS_NODE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TETHER_CROSS_NODE=%q: %v", s, err)
		}
		return d
	}
	return def
}

func randHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}

// runBackend runs the checker on a backend twice in `go test` (a couple of
// seeds), or for TETHER_STRESS, first clean and then, if faulty is given,
// through its fault proxies.
func runBackend(t *testing.T, cfg modelcheck.Config, clean modelcheck.Backend, faulty func(t *testing.T) (modelcheck.Backend, []*faultproxy.Proxy)) {
	t.Run("clean", func(t *testing.T) { verify(t, cfg, clean, budget(t, 2)) })
	if stressDuration(t) == 0 || faulty == nil {
		return
	}
	t.Run("faults", func(t *testing.T) {
		if cfg.CrossNodeBound > 0 {
			// A stalled link delays invalidations: the allowance is
			// then what a node promises when its subscription falls
			// silent (stalls here last up to a second).
			cfg.CrossNodeBound = crossNode(t, 2*time.Second)
		}
		b, proxies := faulty(t)
		stop := injectFaults(t, proxies)
		defer func() {
			lost, stalls := stop()
			t.Logf("fault proxies lost %d replies and stalled %d times", lost, stalls)
		}()
		verify(t, cfg, b, budget(t, 1))
	})
}

// injectFaults loses a reply or stalls a link, at random, every 20 to 200 ms
// until the returned stop is called; stop reports what it did.
func injectFaults(t *testing.T, proxies []*faultproxy.Proxy) (stop func() (lost, stalls int64)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(20+rng.IntN(180)) * time.Millisecond):
			}
			p := proxies[rng.IntN(len(proxies))]
			if rng.IntN(4) == 0 {
				p.Stall(time.Duration(100+rng.IntN(900)) * time.Millisecond)
			} else {
				p.LoseReply()
			}
		}
	}()
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		var lost, stalls int64
		for _, p := range proxies {
			p.Thaw()
			lost += p.Lost()
			stalls += p.Stalls()
		}
		return lost, stalls
	}
}

func newProxy(t *testing.T, target string) *faultproxy.Proxy {
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// redisNodes returns a Backend of n nodes on the Redis at addrs[i] (one
// address per node, the same server behind each), every run on a fresh
// prefix; hybrid puts a hybridstore in front of each node's redisstore.
func redisNodes(addrs []string, hybrid bool) modelcheck.Backend {
	return modelcheck.Nodes(func(now func() time.Time) ([]store.Store, func(), error) {
		prefix := "mc" + randHex(4) + ":"
		var remotes []store.Store
		var closers []func() error
		for _, addr := range addrs {
			c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
			s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithPolicyCheck(false))
			remotes = append(remotes, s)
			closers = append(closers, s.Close, c.Close)
		}
		stores := remotes
		if hybrid {
			stores = modelcheck.Hybrid(now, remotes...)
			for _, s := range stores {
				closers = append([]func() error{s.(interface{ Close() error }).Close}, closers...)
			}
		}
		return stores, func() {
			for _, f := range closers {
				f()
			}
		}, nil
	})
}

func TestRedis(t *testing.T) {
	t.Parallel()
	srv := testserver.Redis(t)
	runBackend(t, serverConfig(), redisNodes([]string{srv.Addr()}, false), func(t *testing.T) (modelcheck.Backend, []*faultproxy.Proxy) {
		p := newProxy(t, srv.Addr())
		return redisNodes([]string{p.Addr()}, false), []*faultproxy.Proxy{p}
	})
}

// Two nodes, each its own hybridstore over its own redisstore on one Redis;
// clients hit either. Under faults only the first node's link is faulty, as
// when one node's network degrades while the other works.
func TestHybridRedis(t *testing.T) {
	t.Parallel()
	srv := testserver.Redis(t)
	cfg := serverConfig()
	cfg.CrossNodeBound = crossNode(t, 250*time.Millisecond)
	runBackend(t, cfg, redisNodes([]string{srv.Addr(), srv.Addr()}, true), func(t *testing.T) (modelcheck.Backend, []*faultproxy.Proxy) {
		p := newProxy(t, srv.Addr())
		return redisNodes([]string{p.Addr(), srv.Addr()}, true), []*faultproxy.Proxy{p}
	})
}

func memcachedNodes(addr string) modelcheck.Backend {
	return modelcheck.Nodes(func(now func() time.Time) ([]store.Store, func(), error) {
		c := memcache.New(addr)
		c.Timeout = time.Second
		s := memcachestore.New(c, memcachestore.WithKeyPrefix("mc"+randHex(4)+":"))
		return []store.Store{s}, func() { c.Close() }, nil
	})
}

func TestMemcached(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	runBackend(t, serverConfig(), memcachedNodes(srv.Addr()), func(t *testing.T) (modelcheck.Backend, []*faultproxy.Proxy) {
		p := newProxy(t, srv.Addr())
		return memcachedNodes(p.Addr()), []*faultproxy.Proxy{p}
	})
}

// pgNodes returns a Backend of one node per DSN (the same server behind
// each), every run on a fresh table and channel.
func pgNodes(dsns []string, hybrid bool) modelcheck.Backend {
	return modelcheck.Nodes(func(now func() time.Time) ([]store.Store, func(), error) {
		table := "mc_" + randHex(4)
		var remotes []store.Store
		var closers []func()
		closeAll := func() {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
		for _, dsn := range dsns {
			cfg, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			cfg.MaxConns = 8
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			closers = append(closers, pool.Close)
			s, err := pgstore.New(context.Background(), pool, pgstore.WithTable(table), pgstore.WithChannel(table))
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("pgstore.New: %w", err)
			}
			closers = append(closers, func() { s.Close() })
			remotes = append(remotes, s)
		}
		stores := remotes
		if hybrid {
			stores = modelcheck.Hybrid(now, remotes...)
			for _, s := range stores {
				closers = append(closers, func() { s.(interface{ Close() error }).Close() })
			}
		}
		return stores, closeAll, nil
	})
}

// proxiedDSN is pg.DSN() through the proxy p.
func proxiedDSN(p *faultproxy.Proxy) string {
	return fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", p.Addr())
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := testserver.Postgres(t)
	runBackend(t, serverConfig(), pgNodes([]string{pg.DSN()}, false), func(t *testing.T) (modelcheck.Backend, []*faultproxy.Proxy) {
		p := newProxy(t, pg.Addr())
		return pgNodes([]string{proxiedDSN(p)}, false), []*faultproxy.Proxy{p}
	})
}

func TestHybridPostgres(t *testing.T) {
	t.Parallel()
	pg := testserver.Postgres(t)
	cfg := serverConfig()
	cfg.CrossNodeBound = crossNode(t, 250*time.Millisecond)
	runBackend(t, cfg, pgNodes([]string{pg.DSN(), pg.DSN()}, true), func(t *testing.T) (modelcheck.Backend, []*faultproxy.Proxy) {
		p := newProxy(t, pg.Addr())
		return pgNodes([]string{proxiedDSN(p), pg.DSN()}, true), []*faultproxy.Proxy{p}
	})
}
