package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// policyCheckTimeout bounds one check of maxmemory-policy.
const policyCheckTimeout = 5 * time.Second

// DefaultPolicyRecheck is how long the store trusts a check of
// maxmemory-policy: the first write or Ping after it checks again (see
// [WithPolicyCheck]).
const DefaultPolicyRecheck = time.Minute

// ErrEvictionPolicy matches the error of a write refused because Redis may
// evict what the store relies on; see [PolicyError].
var ErrEvictionPolicy = errors.New("redisstore: unsafe maxmemory-policy")

// PolicyError is the error [Store.Ping], Commit, Touch and Move return while
// a server the store writes to has a memory limit (maxmemory) and a
// maxmemory-policy under which it may evict a user index, or evict sessions
// with a user before anonymous ones:
//
//   - allkeys-lru, allkeys-lfu, allkeys-random evict keys without a TTL,
//     and a user index has none: evicting it hides live sessions of that
//     user from UserSessions and DeleteUser, so "log out everywhere" misses
//     them.
//   - volatile-lru and volatile-ttl evict by recency (of access, of expiry):
//     a flood of fresh anonymous sessions evicts every user who was idle for
//     longer than the flood lasted. volatile-random prefers nothing, not
//     even an active session over an idle one.
//   - A policy this package does not know is refused too.
//
// Set maxmemory-policy to noeviction (Redis then refuses writes when full,
// which the session manager reports as a store failure), or to volatile-lfu
// (sessions may be evicted, anonymous and idle ones first, an index never;
// see the package documentation). The first write or Ping after
// [DefaultPolicyRecheck] has passed since the last check checks again, so a
// server corrected with CONFIG SET is written to again without a restart.
// Reads and deletes are not refused: a logout must work whatever the policy.
type PolicyError struct {
	Policy string // the server's maxmemory-policy
	Node   string // the server's address, "" for the only one
}

func (e *PolicyError) Error() string {
	node := ""
	if e.Node != "" {
		node = " on " + e.Node
	}
	return fmt.Sprintf("redisstore: maxmemory-policy %s%s may evict user indexes, or users' sessions before anonymous ones; set noeviction or volatile-lfu", e.Policy, node)
}

// Unwrap makes a PolicyError match [ErrEvictionPolicy].
func (e *PolicyError) Unwrap() error { return ErrEvictionPolicy }

// policyVerdict says what a maxmemory-policy means for the store.
type policyVerdict uint8

const (
	policySafe    policyVerdict = iota // nothing is evicted
	policyEvicts                       // sessions may be evicted, anonymous and idle ones first; never an index
	policyRefused                      // an index, or users' sessions before anonymous ones
)

func judgePolicy(policy, maxmemory string) policyVerdict {
	if maxmemory == "0" {
		return policySafe // no memory limit: Redis never evicts
	}
	switch policy {
	case "noeviction":
		return policySafe
	case "volatile-lfu":
		return policyEvicts
	}
	return policyRefused
}

// refusal returns the error writes fail with, or nil. If the last check of
// the policy is older than the recheck interval, the call checks again first
// (within ctx), so that no write goes by a verdict older than the interval
// and one check: the writes that need the verdict are what keeps it fresh,
// and no ticker runs while nobody writes. Writes that come while that check
// runs go by the last verdict, as they did while a periodic check ran.
func (s *Store) refusal(ctx context.Context) error {
	if s.policy != nil {
		if done, ok := s.policy.Claim(time.Now()); ok {
			s.checkPolicy(ctx)
			if ctx.Err() != nil {
				// The caller gave up before the check could finish:
				// the next write checks, rather than every write
				// going by the old verdict for another interval.
				s.policy.Again()
			}
			done()
		}
	}
	if e := s.refused.Load(); e != nil {
		return e
	}
	return nil
}

// checkPolicy checks maxmemory and maxmemory-policy on every server the store
// writes to (every master of a Cluster, every shard of a Ring), within ctx,
// policyCheckTimeout and the store's life; refuses writes while one of them
// is unsafe (see PolicyError), and logs a change of verdict: Error for a
// refusal, Warn for a policy that evicts sessions, Info for a return to
// safety. A server that refuses CONFIG (most managed services) cannot be
// checked and is not refused; one that cannot be reached keeps the last
// verdict.
func (s *Store) checkPolicy(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, policyCheckTimeout)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	var (
		mu      sync.Mutex // ForEachMaster and ForEachShard call check concurrently
		refused *PolicyError
		evicts  []string
		lfu     bool
		checked [][]any // what each server said, logged once the verdict is in force
	)
	check := func(ctx context.Context, c redis.Cmdable, node string) error {
		cfg, err := c.ConfigGet(ctx, "maxmemory*").Result()
		if err != nil {
			return err
		}
		p, ok := cfg["maxmemory-policy"]
		if !ok {
			return errors.New("no maxmemory-policy in CONFIG GET's reply")
		}
		mu.Lock()
		defer mu.Unlock()
		switch judgePolicy(p, cfg["maxmemory"]) {
		case policyRefused:
			if refused == nil {
				refused = &PolicyError{Policy: p, Node: node}
			}
		case policyEvicts:
			evicts = append(evicts, p)
			lfu = lfu || p == "volatile-lfu"
		}
		checked = append(checked, []any{"maxmemory-policy", p, "maxmemory", cfg["maxmemory"], "node", node})
		return nil
	}
	var err error
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return check(ctx, c, c.Options().Addr)
		})
	case *redis.Ring:
		err = c.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
			return check(ctx, c, c.Options().Addr)
		})
	default:
		err = check(ctx, s.client, "")
	}
	if err != nil {
		// Managed services refuse CONFIG; an unreachable server fails
		// loudly on the first request anyway.
		s.cfg.logger.Debug("redisstore: maxmemory-policy not checked", "err", err)
		return
	}
	verdict := "safe"
	switch {
	case refused != nil:
		verdict = "refused:" + refused.Policy
	case len(evicts) > 0:
		verdict = "evicts:" + evicts[0]
	}
	was := s.refused.Swap(refused)
	s.lfu.Store(lfu)
	for _, attrs := range checked {
		s.cfg.logger.Debug("redisstore: checked maxmemory-policy", attrs...)
	}
	s.policyMu.Lock()
	changed := verdict != s.verdict
	s.verdict = verdict
	s.policyMu.Unlock()
	if !changed {
		return
	}
	switch {
	case refused != nil:
		s.cfg.logger.Error("redisstore: refusing writes: "+refused.Error(),
			"maxmemory-policy", refused.Policy, "node", refused.Node)
	case len(evicts) > 0:
		s.cfg.logger.Warn("redisstore: Redis may evict sessions under memory pressure, logging users out (anonymous and idle ones first; user indexes are safe); set maxmemory-policy to noeviction to keep every session",
			"maxmemory-policy", evicts[0])
	case was != nil:
		s.cfg.logger.Info("redisstore: maxmemory-policy is safe again; writing", "was", was.Policy)
	}
}
