package memcachestore_test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
	"github.com/tether-go/tether/store/storetest"
)

// An anonymous flood through a small memcached evicts items of every size.
// The index of a user whose session is active (committed every round) must
// survive as long as the session does: commits read the index, which keeps
// it in use in memcached's LRU as the commits keep the session, and re-add
// the session if the index was lost anyway. Users who are idle lose indexes
// and sessions alike: memcached has no priorities.
func TestIndexSurvivesFlood(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-m", "4"))
	client := memcachedClient(t, srv.Addr())
	clock := storetest.NewClock(time.Now())
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()), memcachestore.WithClock(clock.Now))
	ctx := t.Context()
	const (
		users  = 40
		rounds = 20
		flood  = 2000 // anonymous sessions per round
	)
	finalFlood := 4 * flood
	ids := make([]string, users)
	for i := range ids {
		ids[i] = newID()
		create(t, s, ids[i], "user-"+strconv.Itoa(i), clock.Now().Add(time.Hour), map[string][]byte{"n": []byte("0")})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	floodRound := func(n int) {
		for range n {
			now := clock.Now()
			// Values of 0 to 400 bytes: items in the size classes of
			// the users' sessions and indexes, and around them.
			_, err := s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
				Set: map[string][]byte{"cart": make([]byte, rnd.IntN(400))}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range rounds {
		floodRound(flood)
		for i := 0; i < users; i += 2 { // the even users are active
			_, err := s.Commit(ctx, ids[i], store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte(strconv.Itoa(round))}})
			if err != nil {
				t.Fatalf("active user %d, round %d: %v", i, round, err)
			}
		}
		clock.Advance(31 * time.Second)
	}
	// A last wave after the last commits: what is left must be left by
	// memcached's LRU, not re-added by a commit.
	floodRound(finalFlood)
	var missed, idleLost []string
	activeLost := 0
	for i, id := range ids {
		user := "user-" + strconv.Itoa(i)
		rec, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		live := rec != nil
		listed := len(listed(t, s, user)) == 1
		switch {
		case i%2 == 0 && !live:
			activeLost++
		case i%2 == 0 && !listed:
			missed = append(missed, user)
		case i%2 == 1 && (!live || !listed):
			idleLost = append(idleLost, user)
		}
	}
	st := memcachestore.ServerStats(t, srv.Addr())
	t.Logf("evictions %s; active users whose session was evicted: %d of %d; idle users who lost their session or index: %d of %d",
		st["evictions"], activeLost, users/2, len(idleLost), users/2)
	if len(missed) > 0 {
		t.Errorf("%d of %d active users' live sessions are missing from their index: %v", len(missed), users/2, missed)
	}
	if len(idleLost) == 0 {
		t.Error("the flood evicted nothing of the idle users: the test did not test")
	}
}

// Started with -M, memcached evicts nothing: when it is full, it refuses new
// items. Every session and index that exists stays, so "log out everywhere"
// reaches every session; new sessions fail with a plain error (the request
// gets a 503), never one the session manager would read as "exists" or "not
// found", and leave nothing behind.
func TestNoEvictionServer(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t, testserver.WithMemcachedArgs("-m", "4", "-M"))
	s := memcachestore.New(memcachedClient(t, srv.Addr()), memcachestore.WithKeyPrefix(prefix()))
	ctx := t.Context()
	const user = "judy"
	ids := []string{newID(), newID(), newID()}
	for _, id := range ids {
		create(t, s, id, user, time.Now().Add(time.Hour), map[string][]byte{"n": []byte("0")})
	}
	var refused error
	for i := 0; refused == nil; i++ {
		if i == 100_000 {
			t.Fatal("memcached -m 4 -M never refused a session")
		}
		now := time.Now()
		id := newID()
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"cart": make([]byte, 200)}})
		if err != nil {
			refused = err
			if rec, err := s.Load(ctx, id); rec != nil || err != nil {
				t.Errorf("the refused session: %v, %v; want nothing", rec, err)
			}
		}
	}
	if errors.Is(refused, store.ErrExists) || errors.Is(refused, store.ErrNotFound) || errors.Is(refused, store.ErrTooLarge) || errors.Is(refused, store.ErrConflict) {
		t.Errorf("a full server's refusal: %v, want a plain error", refused)
	}
	if ev := memcachestore.ServerStats(t, srv.Addr())["evictions"]; ev != "0" {
		t.Errorf("%s evictions under -M", ev)
	}
	if got := listed(t, s, user); len(got) != len(ids) {
		t.Errorf("UserSessions lists %d sessions on a full server, want %d", len(got), len(ids))
	}
	if n, err := s.DeleteUser(ctx, user); n != len(ids) || err != nil {
		t.Errorf("DeleteUser = %d, %v; want %d", n, err, len(ids))
	}
}
