package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// Issue 13.6: a flood of anonymous sessions on a Redis with little memory,
// under volatile-lfu, the one evicting policy the store accepts. What must
// hold: no user index is evicted (they have no TTL, and volatile-* policies
// evict only keys with one), so every user session that survives is found by
// UserSessions and DeleteUser; and every session with a user, active or idle,
// outlives the anonymous ones (the store raises its LFU counter at login).
// The other policies are refused (TestPolicyCheck).
func TestEvictionFlood(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"volatile-lfu"} {
		t.Run(policy, func(t *testing.T) {
			rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", policy))
			client := newClient(t, rdb.Addr())
			ctx := t.Context()
			info := client.Info(ctx, "memory").Val()
			used := infoInt(t, info, "used_memory")
			// Room for a few thousand sessions of 1 KB over what is used now.
			if err := client.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+4<<20, 10)).Err(); err != nil {
				t.Fatal(err)
			}
			prefix := "ev" + randHex(4) + ":"
			var log syncBuffer
			s := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			waitLog(t, &log, "checked maxmemory-policy")

			const users = 50
			now := time.Now()
			ids := make([]string, users)
			for i := range ids {
				ids[i] = newID()
				// Every user logged in ten minutes ago with a 30-minute idle
				// timeout; the even ones are active (touched and read below).
				c := store.Change{Mode: store.Create, UserID: "user" + strconv.Itoa(i), Created: now.Add(-10 * time.Minute),
					LastSeen: now.Add(-10 * time.Minute), Expires: now.Add(20 * time.Minute), Set: map[string][]byte{"v": make([]byte, 1024)}}
				if _, err := s.Commit(ctx, ids[i], c); err != nil {
					t.Fatal(err)
				}
			}
			active := func() {
				for i := 0; i < users; i += 2 {
					if _, err := s.Load(ctx, ids[i]); err != nil {
						t.Error(err)
					}
					if err := s.Touch(ctx, ids[i], time.Now(), time.Now().Add(30*time.Minute)); err != nil && !errors.Is(err, store.ErrNotFound) {
						t.Error(err)
					}
				}
			}

			// The flood: anonymous sessions of 1 KB, four writers, until Redis
			// has evicted twice its room; the active users keep working.
			anon := make(chan string, 1<<16)
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						id := newID()
						now := time.Now()
						c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(30 * time.Minute), Set: map[string][]byte{"v": make([]byte, 1024)}}
						if _, err := s.Commit(context.Background(), id, c); err != nil {
							t.Errorf("anonymous create: %v", err)
							return
						}
						select {
						case anon <- id:
						default:
						}
					}
				})
			}
			for deadline := time.Now().Add(30 * time.Second); ; {
				active()
				if evictedKeys(t, client.Info(ctx, "stats").Val()) > 8000 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Redis did not evict 8000 keys in 30 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			close(stop)
			wg.Wait()
			close(anon)

			var activeLeft, idleLeft, anonLeft, anonAll int
			for i, id := range ids {
				user := "user" + strconv.Itoa(i)
				if n := client.Exists(ctx, prefix+"u:"+user).Val(); n != 1 {
					t.Errorf("%s's index was evicted", user)
				}
				rec, err := s.Load(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if rec == nil {
					continue
				}
				if i%2 == 0 {
					activeLeft++
				} else {
					idleLeft++
				}
				infos, err := s.UserSessions(ctx, user)
				if err != nil || len(infos) != 1 || infos[0].ID != id {
					t.Errorf("%s has a live session that UserSessions does not list: %v, %v", user, infos, err)
				}
			}
			for id := range anon {
				anonAll++
				if n := client.Exists(ctx, prefix+"s:"+id).Val(); n == 1 {
					anonLeft++
				}
			}
			t.Logf("%s: %d keys evicted; left: active users %d/25, idle users %d/25, anonymous %d/%d",
				policy, evictedKeys(t, client.Info(ctx, "stats").Val()), activeLeft, idleLeft, anonLeft, anonAll)
			if activeLeft+idleLeft < 50 {
				t.Errorf("%d of 50 users' sessions survived the flood, want all", activeLeft+idleLeft)
			}
		})
	}
}

func infoInt(t *testing.T, info, field string) int64 {
	t.Helper()
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in INFO", field)
	return 0
}

func evictedKeys(t *testing.T, stats string) int64 { return infoInt(t, stats, "evicted_keys") }

// Under noeviction, a full Redis refuses writes: a commit fails loudly (an
// error, which the session manager answers with 503) and changes nothing,
// while reads and deletes, logouts included, keep working and free the room
// for new commits.
func TestNoevictionFull(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory-policy", "noeviction"))
	client := newClient(t, rdb.Addr())
	ctx := t.Context()
	used := infoInt(t, client.Info(ctx, "memory").Val(), "used_memory")
	if err := client.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+2<<20, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, client)
	var ids []string
	var full error
	for i := 0; full == nil; i++ {
		if i == 100000 {
			t.Fatal("100,000 sessions fit in 2 MB")
		}
		id := newID()
		now := time.Now()
		_, full = s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "alice", Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"v": make([]byte, 1024)}})
		if full == nil {
			ids = append(ids, id)
		}
	}
	if !strings.Contains(full.Error(), "OOM") {
		t.Errorf("commit on a full server: %v, want Redis' OOM error", full)
	}
	t.Logf("%d sessions of 1 KB fitted in 2 MB; then: %v", len(ids), full)
	// Keep the server full whatever its allocator's figures do meanwhile
	// (used_memory moves by a few KB with client buffers).
	used = infoInt(t, client.Info(ctx, "memory").Val(), "used_memory")
	if err := client.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used-256<<10, 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, ids[0], store.Change{Mode: store.Update, Set: map[string][]byte{"w": make([]byte, 1024)}}); err == nil {
		t.Error("an update that grows a session on a full server succeeded")
	}
	if rec, err := s.Load(ctx, ids[0]); err != nil || rec == nil || rec.Values.Len() != 1 {
		t.Errorf("load on a full server: %v, %v; want the session as it was", rec, err)
	}
	if err := s.Delete(ctx, ids[0]); err != nil {
		t.Errorf("delete on a full server: %v", err)
	}
	if n, err := s.DeleteUser(ctx, "alice"); err != nil || n != len(ids)-1 {
		t.Errorf("DeleteUser on a full server: %d, %v; want %d", n, err, len(ids)-1)
	}
	create(t, s, newID(), "bob") // room again
}

// A login that keeps a session's expiry (Expires zero) raises its LFU counter
// by DUMP and RESTORE with the key's remaining TTL. In the key's last
// millisecond PTTL is 0, and RESTORE with a TTL of 0 makes the key
// persistent: a session no reader serves (its m:e has passed) that
// volatile-lfu never evicts and UserSessions lists for ever. The boost is
// skipped then. Found by a review; fails without the guard in commitScript.
func TestLFUBoostNearExpiry(t *testing.T) {
	t.Parallel()
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--maxmemory", "100mb", "--maxmemory-policy", "volatile-lfu"))
	client := newClient(t, rdb.Addr())
	ctx := t.Context()
	var log syncBuffer
	s := newStore(t, client, redisstore.WithPrefix("lfu:"), redisstore.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	waitLog(t, &log, "checked maxmemory-policy")

	// Each attempt races the key's last millisecond; a few hundred attempts
	// land there many times over.
	for attempt := range 20 {
		id := newID()
		now := time.Now()
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(30 * time.Millisecond), Set: map[string][]byte{"k": []byte("v")}}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
		for time.Since(now) < time.Second {
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetUserID: true, UserID: "alice"})
			if err != nil {
				break
			}
		}
		if ttl := client.PTTL(ctx, "lfu:s:"+id).Val(); ttl == -1 {
			t.Fatalf("attempt %d: the session's key has no TTL after a login in its last millisecond", attempt)
		}
	}
}
