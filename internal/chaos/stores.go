package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memcachestore"
	"github.com/tether-go/tether/store/pgstore"
	"github.com/tether-go/tether/store/redisstore"
)

// RecommendedRedisOptions are the go-redis settings the README recommends
// for a session store, measured by this harness (RELIABILITY.md): a dead
// server is noticed within a dial timeout instead of after five dial
// retries, a resent command waits at most 64 ms, and no call outlives the
// session manager's store timeout.
func RecommendedRedisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           500 * time.Millisecond,
		DialerRetries:         1,
		MaxRetries:            1,
		MaxRetryBackoff:       64 * time.Millisecond,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	}
}

// storeFor builds the node's store and returns it with a function that
// closes it and its clients.
func storeFor(ctx context.Context, cfg NodeConfig, log *slog.Logger) (store.Store, func(), error) {
	var st store.Store
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	rec := RecommendedRedisOptions("")
	redisOpts := []redisstore.Option{redisstore.WithPrefix(cfg.Prefix), redisstore.WithLogger(log)}
	switch cfg.Backend {
	case BackendRedis:
		opts := &redis.Options{Addr: cfg.Addrs[0], ContextTimeoutEnabled: true}
		if !cfg.RedisDefaults {
			opts = RecommendedRedisOptions(cfg.Addrs[0])
		}
		c := redis.NewClient(opts)
		closers = append(closers, func() { c.Close() })
		rs := redisstore.New(c, redisOpts...)
		closers = append(closers, func() { rs.Close() })
		st = rs
	case BackendCluster:
		c := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.Addrs, ContextTimeoutEnabled: true,
			DialTimeout: rec.DialTimeout, DialerRetries: rec.DialerRetries, MaxRetries: rec.MaxRetries,
			MaxRetryBackoff: rec.MaxRetryBackoff, ReadTimeout: rec.ReadTimeout, WriteTimeout: rec.WriteTimeout,
			// A cluster client follows MOVED after a failover; it needs
			// redirects, not retries of the same node.
			MaxRedirects: 3,
		})
		closers = append(closers, func() { c.Close() })
		rs := redisstore.New(c, redisOpts...)
		closers = append(closers, func() { rs.Close() })
		st = rs
	case BackendSentinel:
		c := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: "mymaster", SentinelAddrs: cfg.Addrs, ContextTimeoutEnabled: true,
			DialTimeout: rec.DialTimeout, DialerRetries: rec.DialerRetries, MaxRetries: rec.MaxRetries,
			MaxRetryBackoff: rec.MaxRetryBackoff, ReadTimeout: rec.ReadTimeout, WriteTimeout: rec.WriteTimeout,
		})
		closers = append(closers, func() { c.Close() })
		rs := redisstore.New(c, redisOpts...)
		closers = append(closers, func() { rs.Close() })
		st = rs
	case BackendPostgres:
		pcfg, err := pgxpool.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, nil, err
		}
		pcfg.ConnConfig.ConnectTimeout = 500 * time.Millisecond
		pool, err := pgxpool.NewWithConfig(ctx, pcfg)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, pool.Close)
		ps, err := pgstore.New(ctx, pool, pgstore.WithTable(cfg.Prefix), pgstore.WithChannel(cfg.Prefix))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, func() { ps.Close() })
		st = ps
	case BackendMemcached:
		c := memcache.New(cfg.Addrs...)
		c.Timeout = time.Second
		ms := memcachestore.New(c, memcachestore.WithKeyPrefix(cfg.Prefix))
		st = ms
	case BackendBolt:
		bs, err := boltstore.Open(cfg.Bolt)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { bs.Close() })
		st = bs
	default:
		return nil, nil, fmt.Errorf("unknown backend %q", cfg.Backend)
	}
	if cfg.Hybrid {
		hs := hybridstore.New(st, hybridstore.WithMaxBytes(16<<20))
		closers = append(closers, func() { hs.Close() })
		st = hs
	}
	return st, closeAll, nil
}
