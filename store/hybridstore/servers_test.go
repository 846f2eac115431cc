package hybridstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store/memcachestore"
	"github.com/tether-go/tether/store/pgstore"
	"github.com/tether-go/tether/store/redisstore"
)

// Helpers that put the real backends on real servers, each store with a key
// prefix (or table) of its own, closed when the test ends.

func newRedisClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// newRedisStore returns a redisstore under prefix ("" for a fresh one). Two
// stores with one prefix are two nodes of one deployment: they share records
// and the invalidation channel.
func newRedisStore(t testing.TB, c redis.UniversalClient, prefix string) *redisstore.Store {
	if prefix == "" {
		prefix = "h" + randHex(6) + ":"
	}
	s := redisstore.New(c, redisstore.WithPrefix(prefix), redisstore.WithPolicyCheck(false))
	t.Cleanup(func() { s.Close() })
	return s
}

func newPool(t testing.TB, pg *testserver.PostgresServer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newPGStore returns a pgstore on table ("" for a fresh one).
func newPGStore(t testing.TB, pool *pgxpool.Pool, table string, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	if table == "" {
		table = "h_" + randHex(6)
	}
	opts = append([]pgstore.Option{pgstore.WithTable(table), pgstore.WithChannel(table)}, opts...)
	s, err := pgstore.New(context.Background(), pool, opts...)
	if err != nil {
		t.Fatalf("pgstore.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newMemcacheClient(t testing.TB, addr string) *memcache.Client {
	c := memcache.New(addr)
	c.Timeout = time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

func newMemcacheStore(c *memcache.Client, prefix string) *memcachestore.Store {
	if prefix == "" {
		prefix = "h" + randHex(6) + ":"
	}
	return memcachestore.New(c, memcachestore.WithKeyPrefix(prefix))
}
