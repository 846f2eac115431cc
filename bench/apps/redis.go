package apps

import (
	"context"
	"maps"
	"net"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// newRedisClient is the client every Redis-backed app uses: defaults, with
// context deadlines honoured (which Tether's redisstore asks for) and a
// command counter.
func (a *App) newRedisClient(addr string) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	a.Counter = &Counter{}
	rdb.AddHook(a.Counter)
	a.onClose(rdb.Close)
	return rdb
}

// Counter is a go-redis hook that counts the commands a client sends, by
// name, and its round trips (a pipeline is one). It sees what the client
// sends; commands a Lua script runs inside the server are not in it (INFO
// commandstats counts those). It is safe for concurrent use.
type Counter struct {
	mu         sync.Mutex
	cmds       map[string]int64
	roundTrips int64
}

// Snapshot returns the counts so far.
func (c *Counter) Snapshot() (cmds map[string]int64, roundTrips int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.cmds), c.roundTrips
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cmds, c.roundTrips = nil, 0
}

func (c *Counter) add(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmds == nil {
		c.cmds = make(map[string]int64)
	}
	for _, n := range names {
		c.cmds[n]++
	}
	c.roundTrips++
}

// DialHook implements redis.Hook.
func (c *Counter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

// ProcessHook implements redis.Hook.
func (c *Counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add([]string{strings.ToLower(cmd.Name())})
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook.
func (c *Counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = strings.ToLower(cmd.Name())
		}
		c.add(names)
		return next(ctx, cmds)
	}
}
