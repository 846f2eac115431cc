package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A server with a memory limit and a policy that can evict a user index, or
// users' sessions before anonymous ones, is refused: Ping and writes fail
// with a *PolicyError, reads and deletes still work. volatile-lfu is warned
// about; noeviction, and any policy without a memory limit, are safe.
func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy, maxmemory string
		refuse, warn      bool
	}{
		{"noeviction", "100mb", false, false},
		{"allkeys-lru", "0", false, false},
		{"allkeys-lru", "100mb", true, false},
		{"allkeys-lfu", "100mb", true, false},
		{"allkeys-random", "100mb", true, false},
		{"volatile-random", "100mb", true, false},
		{"volatile-lru", "100mb", true, false},
		{"volatile-lfu", "100mb", false, true},
		{"volatile-ttl", "100mb", true, false},
	} {
		t.Run(tc.policy+"/"+tc.maxmemory, func(t *testing.T) {
			rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", tc.policy, "--maxmemory", tc.maxmemory))
			client := newClient(t, rdb.Addr())
			var log syncBuffer
			s := newStore(t, client, redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			waitLog(t, &log, "checked maxmemory-policy")

			ctx := t.Context()
			id := newID()
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "alice", Created: time.Now(), LastSeen: time.Now(), Expires: time.Now().Add(time.Hour)})
			perr := s.Ping(ctx)
			if !tc.refuse {
				if err != nil || perr != nil {
					t.Fatalf("commit: %v, ping: %v; want both to work", err, perr)
				}
				if warned := strings.Contains(log.String(), "level=WARN"); warned != tc.warn {
					t.Errorf("warned %v, want %v; log:\n%s", warned, tc.warn, log.String())
				}
				return
			}
			var pe *redisstore.PolicyError
			if !errors.As(err, &pe) || pe.Policy != tc.policy || !errors.Is(err, redisstore.ErrEvictionPolicy) {
				t.Errorf("commit: %v, want a *PolicyError for %s", err, tc.policy)
			}
			if !errors.As(perr, &pe) {
				t.Errorf("ping: %v, want a *PolicyError", perr)
			}
			if !strings.Contains(log.String(), "level=ERROR") {
				t.Errorf("no error logged; log:\n%s", log.String())
			}
			if rec, err := s.Load(ctx, id); rec != nil || err != nil {
				t.Errorf("load: %v, %v; want nothing (the create was refused) and no error", rec, err)
			}
			if err := s.Delete(ctx, id); err != nil {
				t.Errorf("delete: %v; deletes are never refused", err)
			}
			if _, err := s.DeleteUser(ctx, "alice"); err != nil {
				t.Errorf("delete user: %v; deletes are never refused", err)
			}
		})
	}
}

// The policy is checked again: a server fixed at runtime is written to again
// without a restart, and one that turns unsafe is refused.
func TestPolicyRecheck(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", "allkeys-lru", "--maxmemory", "100mb"))
	client := newClient(t, rdb.Addr())
	s := newStore(t, client, redisstore.WithPolicyRecheck(20*time.Millisecond))
	ctx := t.Context()
	eventually(t, "refused", func() bool { return errors.Is(s.Ping(ctx), redisstore.ErrEvictionPolicy) })
	if err := client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "accepted after CONFIG SET noeviction", func() bool { return s.Ping(ctx) == nil })
	create(t, s, newID(), "alice")
	if err := client.ConfigSet(ctx, "maxmemory-policy", "allkeys-lfu").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refused after CONFIG SET allkeys-lfu", func() bool { return errors.Is(s.Ping(ctx), redisstore.ErrEvictionPolicy) })
}

// A server that refuses CONFIG (managed Redis) cannot be checked: it is not
// refused, and the store says so at Debug only.
func TestPolicyCheckRefused(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--rename-command", "CONFIG", "", "--maxmemory-policy", "allkeys-lru", "--maxmemory", "100mb"))
	client := newClient(t, rdb.Addr())
	var log syncBuffer
	s := newStore(t, client, redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	waitLog(t, &log, "not checked")
	if strings.Contains(log.String(), "level=WARN") || strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("want a Debug line only; log:\n%s", log.String())
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("ping: %v", err)
	}
}

// Every master of a Cluster is checked (concurrently): one unsafe master is
// enough to refuse, and several are reported without a race.
func testClusterPolicy(t *testing.T, client *redis.ClusterClient) {
	ctx := t.Context()
	s := newStore(t, client, redisstore.WithPolicyRecheck(20*time.Millisecond))
	eventually(t, "checked", func() bool { return s.Ping(ctx) == nil })
	master, err := client.MasterForKey(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	one := master.Options().Addr
	setPolicy := func(c *redis.Client, maxmemory, policy string) {
		if err := c.ConfigSet(context.Background(), "maxmemory", maxmemory).Err(); err != nil {
			t.Error(err)
		}
		if err := c.ConfigSet(context.Background(), "maxmemory-policy", policy).Err(); err != nil {
			t.Error(err)
		}
	}
	forEach := func(maxmemory, policy string) {
		_ = client.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			setPolicy(c, maxmemory, policy)
			return nil
		})
	}
	defer forEach("0", "noeviction")

	setPolicy(master, "100mb", "allkeys-lru")
	eventually(t, "refused for one master", func() bool {
		var pe *redisstore.PolicyError
		return errors.As(s.Ping(ctx), &pe) && pe.Node == one
	})
	forEach("100mb", "allkeys-lfu")
	eventually(t, "refused for every master", func() bool {
		var pe *redisstore.PolicyError
		return errors.As(s.Ping(ctx), &pe) && pe.Policy == "allkeys-lfu"
	})
	forEach("0", "noeviction")
	eventually(t, "accepted again", func() bool { return s.Ping(ctx) == nil })
}

func waitLog(t *testing.T, log *syncBuffer, marker string) {
	t.Helper()
	eventually(t, "log line "+marker, func() bool { return strings.Contains(log.String(), marker) })
}

// eventually polls cond for up to 5 seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 5 s", what)
		}
	}
}

// Between checks of the policy the store runs no goroutine (and so keeps no
// timer, which would make every scheduling decision of the runtime read the
// clock). Not parallel: it counts the process' goroutines.
func TestNoGoroutineBetweenPolicyChecks(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	var log syncBuffer
	newStore(t, client, redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	waitLog(t, &log, "checked maxmemory-policy")
	goleak.VerifyNone(t, ignore)
}
