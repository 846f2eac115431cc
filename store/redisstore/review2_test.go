package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// review2Chain commits a session of user and rotates it n times (commit the
// new record, Move the old one to it, as the session layer rotates), and
// returns the IDs, oldest first.
func review2Chain(t *testing.T, s *redisstore.Store, user string, n int) []string {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	ids := []string{newID()}
	commit := func(id string) {
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: user, SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	commit(ids[0])
	for range n {
		next := newID()
		commit(next)
		if err := s.Move(ctx, ids[len(ids)-1], store.Moved{To: next}, now.Add(time.Minute), 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, next)
	}
	return ids
}

// A session that rotated 33 times within its tombstones' lifetime (a minute
// in the session layer: max(rotateGrace, endedHold)), and whose first
// rotation's unindex was lost (best effort by design: "the entry left behind
// is one that readers skip and remove anyway"), is stable and listed in the
// index under its current ID. UserSessions must list it. It fails with
// store.ErrConflict instead: follow walks the whole chain of old tombstones
// from the lingering entry, counting each as a rotation "while it was being
// listed". Nothing is rotating.
func TestUserSessionsStaleEntryLongChainIsNotAConflict(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("r2chain:"))
	defer s.Close()
	ctx := t.Context()
	ids := review2Chain(t, s, "erin", 33)
	// The first rotation's unindex was lost: its entry lingers.
	client.ZAdd(ctx, "r2chain:u:erin", redis.Z{Score: float64(time.Now().UnixMilli()), Member: ids[0]})
	infos, err := s.UserSessions(ctx, "erin")
	if err != nil {
		t.Fatalf("UserSessions of a user with one stable session: %v", err)
	}
	if len(infos) != 1 || infos[0].ID != ids[len(ids)-1] {
		t.Fatalf("UserSessions = %+v, want the current session %.8s…", infos, ids[len(ids)-1])
	}
}

// The same lingering entry, older than indexGrace: UserSessions should
// remove it (it is dead: a tombstone) and succeed. Because follow fails
// before removeEntries runs, the dead entry is never cleaned, and every
// UserSessions (and every indexAdd prune, which calls check too) fails the
// same way until a tombstone of the chain expires.
func TestUserSessionsConflictKeepsDeadEntryForever(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("r2dead:"))
	defer s.Close()
	ctx := t.Context()
	ids := review2Chain(t, s, "finn", 33)
	old := time.Now().Add(-time.Hour).UnixMilli()
	client.ZAdd(ctx, "r2dead:u:finn", redis.Z{Score: float64(old), Member: ids[0]})
	for range 2 {
		_, _ = s.UserSessions(ctx, "finn")
	}
	if _, err := client.ZScore(ctx, "r2dead:u:finn", ids[0]).Result(); err == nil {
		t.Errorf("the hour-old entry of a rotation tombstone is still in the index after two UserSessions calls")
	}
	if _, err := s.UserSessions(ctx, "finn"); err != nil {
		t.Errorf("UserSessions: %v", err)
	}
}

// Two tombstones that forward to each other (Move(A, To: B) then
// Move(B, To: A): the store API allows it) make UserSessions loop until its
// hop budget and fail with ErrConflict; memcachestore's follow marks what it
// visited and lists nothing. A visited set ends the chase at once.
func TestUserSessionsForwardCycle(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("r2cyc:"))
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	a, b, c := newID(), newID(), newID()
	for _, id := range []string{a, b, c} {
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, UserID: "gus", SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Move(ctx, a, store.Moved{To: b}, now.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, b, store.Moved{To: a}, now.Add(time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		client.ZAdd(ctx, "r2cyc:u:gus", redis.Z{Score: float64(now.UnixMilli()), Member: id})
	}
	infos, err := s.UserSessions(ctx, "gus")
	if errors.Is(err, store.ErrConflict) {
		t.Fatalf("UserSessions: %v (nothing is rotating: two tombstones forward to each other)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].ID != c {
		t.Fatalf("UserSessions = %+v, want only %.8s…", infos, c)
	}
}

// A login (a commit that indexes a session) into an index past
// indexPruneAbove prunes old entries with check, which since 7268543 also
// follows every old rotation tombstone to its end, one pipeline per hop, up
// to 32: work that pruning does not use (it only needs the dead entries) and
// that lands in the login's latency. Here one old lingering entry with a
// chain of 20 rotations behind it costs the login 20 extra round trips.
func TestLoginPruneFollowsChains(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	s := redisstore.New(client, redisstore.WithPolicyCheck(false), redisstore.WithPrefix("r2prune:"))
	defer s.Close()
	ctx := t.Context()
	ids := review2Chain(t, s, "hal", 20)
	now := time.Now()
	for range 32 {
		if _, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, UserID: "hal", SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// The first rotation's unindex was lost, an hour ago.
	client.ZAdd(ctx, "r2prune:u:hal", redis.Z{Score: float64(time.Now().Add(-time.Hour).UnixMilli()), Member: ids[0]})
	var rt roundTrips
	client.AddHook(&rt)
	if _, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, UserID: "hal", SetUserID: true, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n > 6 {
		t.Errorf("a login made %d round trips; want at most 6 (index, the pruning's read and removal, the commit)", n)
	}
}
