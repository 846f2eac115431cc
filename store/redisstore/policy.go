package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// policyCheckTimeout bounds the startup check of maxmemory-policy.
const policyCheckTimeout = 5 * time.Second

// checkPolicy warns if a server may evict keys under memory pressure: an
// evicted session is a user logged out for no reason they can see. Every
// policy but noeviction evicts sessions, since all of them have a TTL (so
// volatile-* policies pick them too). It runs once, on its own goroutine,
// until it is done, policyCheckTimeout passes, or the store is closed.
func (s *Store) checkPolicy() {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.life, policyCheckTimeout)
	defer cancel()
	check := func(ctx context.Context, c redis.Cmdable, node string) error {
		policy, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err != nil {
			return err
		}
		p, ok := policy["maxmemory-policy"]
		if ok && p != "noeviction" {
			s.cfg.logger.Warn("redisstore: Redis may evict sessions under memory pressure, logging users out; set maxmemory-policy to noeviction",
				"maxmemory-policy", p, "node", node)
			return nil
		}
		s.cfg.logger.Debug("redisstore: checked maxmemory-policy", "maxmemory-policy", p, "node", node)
		return nil
	}
	var err error
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return check(ctx, c, c.Options().Addr)
		})
	} else {
		err = check(ctx, s.client, "")
	}
	if err != nil {
		// Managed services refuse CONFIG; an unreachable server fails
		// loudly on the first request anyway.
		s.cfg.logger.Debug("redisstore: maxmemory-policy not checked", "err", err)
	}
}
