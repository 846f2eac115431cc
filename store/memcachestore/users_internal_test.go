package memcachestore

import (
	"crypto/rand"
	"encoding/hex"
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
