package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// slowConfig delays CONFIG commands, as a busy or distant server does.
type slowConfig struct{ d time.Duration }

func (slowConfig) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h slowConfig) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "config" {
			select {
			case <-time.After(h.d):
			case <-ctx.Done():
				cmd.SetErr(ctx.Err())
				return ctx.Err()
			}
		}
		return next(ctx, cmd)
	}
}
func (slowConfig) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// The write that finds the policy check due runs it under the caller's
// context. A caller whose deadline is short (a request nearly out of time)
// makes the check fail; refusal still advanced the chore's next due time
// by a full interval, so every write for the next interval goes by a
// verdict that is older than the interval: here a server turned
// allkeys-lru three intervals ago keeps taking writes.
func TestPolicyCheckCutShortByCallerIsRedone(t *testing.T) {
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", "noeviction", "--maxmemory", "100mb"))
	client := newClient(t, rdb.Addr())
	var log syncBuffer
	s := newStore(t, client, redisstore.WithPolicyRecheck(300*time.Millisecond),
		redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	waitLog(t, &log, "checked maxmemory-policy")
	ctx := t.Context()
	if err := client.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	client.AddHook(slowConfig{d: 100 * time.Millisecond})
	time.Sleep(400 * time.Millisecond) // past the recheck interval

	now := time.Now()
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, err := s.Commit(short, newID(), store.Change{Mode: store.Create, UserID: "alice", Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
	cancel()
	t.Logf("impatient commit: %v", err)

	// The very next write, with all the time in the world.
	start := time.Now()
	_, err = s.Commit(ctx, newID(), store.Change{Mode: store.Create, UserID: "bob", Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
	if !errors.Is(err, redisstore.ErrEvictionPolicy) {
		t.Errorf("commit %v after the server turned allkeys-lru (recheck every 300ms, the last successful check %v+ ago): err %v, want a *PolicyError: the check the impatient caller's deadline cut short was not redone", time.Since(start), 400*time.Millisecond, err)
	}
}
