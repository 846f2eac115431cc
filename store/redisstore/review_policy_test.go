package redisstore_test

import (
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// A store idle for longer than the recheck interval judges its next write
// by the verdict of the last check, however old: the write that finds the
// check due starts it asynchronously and is itself let through (as is every
// write until that check returns). With the old ticker the verdict a write
// saw was never older than the interval (plus one check). Here a server
// turned allkeys-lru while the store was idle for 10 intervals still takes
// the first write; the reverse, a server fixed while idle, has its first
// write refused.
func TestNoStaleVerdictAfterIdle(t *testing.T) {
	t.Run("turned unsafe", func(t *testing.T) {
		rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", "noeviction", "--maxmemory", "100mb"))
		client := newClient(t, rdb.Addr())
		var log syncBuffer
		s := newStore(t, client, redisstore.WithPolicyRecheck(50*time.Millisecond),
			redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
		waitLog(t, &log, "checked maxmemory-policy")
		ctx := t.Context()
		if err := client.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // 10 recheck intervals, no call
		now := time.Now()
		_, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, UserID: "alice", Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
		if !errors.Is(err, redisstore.ErrEvictionPolicy) {
			t.Errorf("commit after 10 recheck intervals on allkeys-lru: %v, want a *PolicyError (the server turned unsafe 500 ms ago, recheck every 50 ms)", err)
		}
	})
	t.Run("fixed", func(t *testing.T) {
		rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", "allkeys-lru", "--maxmemory", "100mb"))
		client := newClient(t, rdb.Addr())
		s := newStore(t, client, redisstore.WithPolicyRecheck(50*time.Millisecond))
		ctx := t.Context()
		eventually(t, "refused", func() bool { return errors.Is(s.Ping(ctx), redisstore.ErrEvictionPolicy) })
		if err := client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		now := time.Now()
		if _, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, UserID: "alice", Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Errorf("commit 10 recheck intervals after CONFIG SET noeviction: %v, want it accepted", err)
		}
	})
}

// Reads never start a check, but they are never refused either: a store
// that only reads for a while and then writes behaves as above. Close
// racing checks started by writes and Pings leaves no goroutine, and calls
// after Close start none.
func TestCloseRacingCheck(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	for iter := range 20 {
		s := redisstore.New(client, redisstore.WithPrefix("zz"+newID()[:8]+":"), redisstore.WithPolicyRecheck(time.Microsecond))
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					s.Ping(t.Context())
				}
			}()
		}
		time.Sleep(time.Duration(iter%4) * 200 * time.Microsecond)
		s.Close()
		wg.Wait()
		for range 10 {
			s.Ping(t.Context())
		}
	}
	goleak.VerifyNone(t, ignore)
}
