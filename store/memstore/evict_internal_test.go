package memstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// idsInShards returns n IDs that fall in the same shard and one in another.
func idsInShards(s *Store, n int) (same []string, other string) {
	for i := 0; len(same) < n || other == ""; i++ {
		id := fmt.Sprintf("%064x", i)
		switch {
		case len(same) == 0 || s.shard(id) == s.shard(same[0]):
			if len(same) < n {
				same = append(same, id)
			}
		case other == "":
			other = id
		}
	}
	return same, other
}

// A write between eviction's scan and its removal must not make it take a
// user's session while another shard still holds an anonymous one: when the
// anonymous record it chose is gone, it looks again instead of taking the
// shard's next candidate.
func TestEvictionRechecksAfterScan(t *testing.T) {
	ctx := context.Background()
	s := New(WithMaxEntries(3))
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	create := func(id, user string, ttl time.Duration) {
		t.Helper()
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(ttl), UserID: user, SetUserID: true}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	same, other := idsInShards(s, 3)
	anonA, userU, login := same[0], same[1], same[2]
	create(anonA, "", time.Minute)        // the first to go
	create(userU, "alice", 2*time.Minute) // next in its shard
	create(other, "", 3*time.Minute)      // anonymous, in another shard

	s.afterScan = func() {
		s.afterScan = nil
		// The anonymous session the eviction chose logs out meanwhile.
		if err := s.Delete(ctx, anonA); err != nil {
			t.Error(err)
		}
	}
	create(login, "bob", time.Hour) // over the bound: evicts

	if rec, _ := s.Load(ctx, userU); rec == nil {
		t.Error("eviction took a user's session while an anonymous one was left")
	}
	if n := s.Len(); n > 3 {
		t.Errorf("Len = %d, want at most 3", n)
	}
}

// When the room eviction makes for comes from elsewhere while it scans (a
// sweep removing expired records, a logout), it removes nothing: a sweep
// that took the expired records during the scan left it only live ones to
// choose from, and it evicted one of them from a store already within its
// bounds.
func TestEvictionStopsWhenRoomCameDuringScan(t *testing.T) {
	ctx := context.Background()
	s := New(WithMaxEntries(2))
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	create := func(id string, ttl time.Duration) {
		t.Helper()
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(ttl)}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	same, other := idsInShards(s, 2)
	create(same[0], time.Minute) // the one eviction chooses
	create(other, time.Hour)

	s.afterScan = func() {
		s.afterScan = nil
		if err := s.Delete(ctx, other); err != nil { // room, from elsewhere
			t.Error(err)
		}
	}
	create(same[1], time.Hour) // over the bound: evicts

	if rec, _ := s.Load(ctx, same[0]); rec == nil {
		t.Error("eviction removed a live session from a store already within its bounds")
	}
	if n := s.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
}

// A write of a record that is already expired (a store caller's past
// expiry; Tether never commits one) does not spare it: it goes before any
// live record, instead of pushing a live session out to make room for a
// dead one.
func TestEvictionTakesExpiredWriteBeforeLive(t *testing.T) {
	ctx := context.Background()
	s := New(WithMaxEntries(2))
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	create := func(id string, expires time.Time) {
		t.Helper()
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: expires}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	same, _ := idsInShards(s, 3)
	create(same[0], now.Add(time.Minute))
	create(same[1], now.Add(time.Hour))
	create(same[2], now.Add(-time.Second)) // over the bound, and dead already

	for _, id := range same[:2] {
		if rec, err := s.Load(ctx, id); err != nil || rec == nil {
			t.Errorf("live record %s.. evicted to make room for an expired one (%v)", id[:8], err)
		}
	}
	if n := s.Len(); n > 2 {
		t.Errorf("Len = %d, want at most 2", n)
	}
}
