package memcachestore

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newTestStore(t *testing.T) (*Store, *memcache.Client, *storetest.Clock) {
	t.Helper()
	srv := testserver.Memcached(t)
	client := memcache.New(srv.Addr())
	client.Timeout = 5 * time.Second // the race detector on a shared machine is slow
	t.Cleanup(func() { client.Close() })
	clock := storetest.NewClock(time.Now())
	return New(client, WithKeyPrefix("t"+randomHex(4)+":"), WithClock(clock.Now)), client, clock
}

func (s *Store) rawIndex(t *testing.T, user string) *index {
	t.Helper()
	_, x, err := s.readIndex(t.Context(), s.indexKey(user))
	if err != nil {
		t.Fatal(err)
	}
	if x == nil {
		return newIndex()
	}
	return x
}

// A writer lists a session in the index before the record names the user.
// A clean-up that runs between the two writes must not drop the entry, or
// the session would end up unlisted, out of reach of DeleteUser; once the
// grace period is over, an entry whose record never came is dropped.
func TestIndexGrace(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestStore(t)
	ctx := t.Context()
	user, id := "alice", randomHex(32)
	if _, _, err := s.ensureIndexed(ctx, user, id, clock.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	// The record is not there yet: not listed, but the entry stays.
	if infos, err := s.UserSessions(ctx, user); err != nil || len(infos) != 0 {
		t.Fatalf("UserSessions = %v, %v; want none", infos, err)
	}
	if n, err := s.DeleteUser(ctx, user); err != nil || n != 0 {
		t.Fatalf("DeleteUser = %d, %v; want 0", n, err)
	}
	if _, ok := s.rawIndex(t, user).entries[id]; !ok {
		t.Fatal("a young entry was dropped by a clean-up")
	}
	// The record lands: it is listed and reachable.
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: clock.Now(), LastSeen: clock.Now(),
		Expires: clock.Now().Add(time.Hour), UserID: user, SetUserID: true})
	if err != nil {
		t.Fatal(err)
	}
	if infos, err := s.UserSessions(ctx, user); err != nil || len(infos) != 1 {
		t.Fatalf("UserSessions = %v, %v; want the session", infos, err)
	}

	// An entry whose record never comes is dropped after the grace.
	orphan := randomHex(32)
	if _, _, err := s.ensureIndexed(ctx, user, orphan, clock.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	clock.Advance((indexGrace + 1) * time.Second)
	if infos, err := s.UserSessions(ctx, user); err != nil || len(infos) != 1 {
		t.Fatalf("UserSessions = %v, %v; want the one session", infos, err)
	}
	x := s.rawIndex(t, user)
	if _, ok := x.entries[orphan]; ok {
		t.Error("an orphan entry survived a clean-up after the grace")
	}
	if _, ok := x.entries[id]; !ok {
		t.Error("the live session's entry was dropped")
	}
}

// A user whose sessions end without a logout (they expire, or memcached
// evicts them) and who never calls UserSessions still has a bounded index:
// adding an entry to a long index first drops the dead ones.
func TestIndexBounded(t *testing.T) {
	t.Parallel()
	s, client, clock := newTestStore(t)
	ctx := t.Context()
	user := "bob"
	for range 3 * indexPruneAt {
		id := randomHex(32)
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: clock.Now(), LastSeen: clock.Now(),
			Expires: clock.Now().Add(time.Hour), UserID: user, SetUserID: true})
		if err != nil {
			t.Fatal(err)
		}
		// The session dies behind the index's back.
		key, _ := s.recordKey(id)
		if err := client.Delete(key); err != nil {
			t.Fatal(err)
		}
		clock.Advance(10 * time.Second)
	}
	if n := len(s.rawIndex(t, user).entries); n > indexPruneAt+indexGrace/10+1 {
		t.Errorf("index of dead sessions holds %d entries, want it pruned to about %d", n, indexPruneAt)
	}
}

// A session's index entry moves with SetUserID, and the old user's index
// lets go of it once the entry is old enough to be safe to drop.
func TestSetUserIDLeavesOldIndex(t *testing.T) {
	t.Parallel()
	s, _, clock := newTestStore(t)
	ctx := t.Context()
	id := randomHex(32)
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: clock.Now(), LastSeen: clock.Now(),
		Expires: clock.Now().Add(time.Hour), UserID: "carol", SetUserID: true})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance((indexGrace + 1) * time.Second)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, UserID: "dave", SetUserID: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.rawIndex(t, "carol").entries[id]; ok {
		t.Error("the old user's index still lists the session")
	}
	if _, ok := s.rawIndex(t, "dave").entries[id]; !ok {
		t.Error("the new user's index does not list the session")
	}
}

// A commit of a user's session reads the user's index at most once per
// indexCheckEvery (memcached marks an item in use at most once a minute, so
// more reads would cost round trips for nothing), and re-adds the session to
// an index that memcached evicted.
func TestCommitChecksIndex(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcache.New(srv.Addr())
	client.Timeout = 5 * time.Second
	t.Cleanup(func() { client.Close() })
	clock := storetest.NewClock(time.Now())
	s := New(client, WithKeyPrefix("t"+randomHex(4)+":"), WithClock(clock.Now))
	ctx := t.Context()
	user, id := "ivy", randomHex(32)
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: clock.Now(), LastSeen: clock.Now(),
		Expires: clock.Now().Add(time.Hour), UserID: user, SetUserID: true})
	if err != nil {
		t.Fatal(err)
	}
	commit := func() {
		t.Helper()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	gets := func() int {
		n, _ := strconv.Atoi(serverStats(t, srv.Addr())["cmd_get"])
		return n
	}
	// The create has just checked the index.
	before := gets()
	for range 3 {
		commit()
	}
	if n := gets() - before; n != 3 {
		t.Errorf("3 commits within %ds of the create read %d items, want 3 (the record only)", indexCheckEvery, n)
	}

	// Memcached evicts the index; the next check re-adds the session.
	if err := client.Delete(s.indexKey(user)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(indexCheckEvery * time.Second)
	before = gets()
	commit()
	if n := gets() - before; n != 2 {
		t.Errorf("a commit %ds later read %d items, want 2 (the record and the index)", indexCheckEvery, n)
	}
	if _, ok := s.rawIndex(t, user).entries[id]; !ok {
		t.Error("the commit did not re-add the session to the evicted index")
	}
}
