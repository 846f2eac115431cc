package memcachestore

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// twoStores returns two stores on one server under one prefix: hooked, whose
// compare-and-swap loops run the function given to once (once only) after
// their next read, and direct, which runs none.
func twoStores(t *testing.T) (hooked, direct *Store, once func(func())) {
	t.Helper()
	srv := testserver.Memcached(t)
	client := memcache.New(srv.Addr())
	client.Timeout = 5 * time.Second // the race detector on a shared machine is slow
	t.Cleanup(func() { client.Close() })
	pfx := "t" + randomHex(4) + ":"
	var next func() // only touched by the test's goroutine: the hook runs in the caller's
	hooked = New(client, WithKeyPrefix(pfx), func(c *config) {
		c.afterRead = func(string) {
			if f := next; f != nil {
				next = nil
				f()
			}
		}
	})
	return hooked, New(client, WithKeyPrefix(pfx)), func(f func()) { next = f }
}

func createUserSession(t *testing.T, s *Store, id, user string) {
	t.Helper()
	now := time.Now()
	_, err := s.Commit(t.Context(), id, store.Change{Mode: store.Create, Created: now, LastSeen: now,
		Expires: now.Add(time.Hour), Set: map[string][]byte{"a": []byte("1")}, UserID: user, SetUserID: true,
		SetAttrs: true, Attrs: map[string]string{"device": "phone"}})
	if err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, s *Store, id string) *store.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), id)
	if err != nil || rec == nil {
		t.Fatalf("Load(%.8s…) = %v, %v; want a record", id, rec, err)
	}
	return rec
}

// wantEndedAt checks that the record under id is the tombstone a logout
// leaves, at version, with before's Created, LastSeen and Expires.
func wantEndedAt(t *testing.T, s *Store, id string, before *store.Record, version uint64) {
	t.Helper()
	rec := mustLoad(t, s, id)
	switch {
	case rec.Moved == nil:
		t.Errorf("Load = a live record (version %d, values %q); want a tombstone", rec.Version, rec.Values)
	case rec.Moved.To != id || rec.Moved.Forwards() || rec.Values.Len() != 0 || rec.UserID != "" || len(rec.Attrs) != 0:
		t.Errorf("tombstone moved to %.8s… with %d sealed bytes, %d values, user %q, %d attributes; want its own ID and nothing else",
			rec.Moved.To, len(rec.Moved.Sealed), rec.Values.Len(), rec.UserID, len(rec.Attrs))
	case rec.Version != version || !rec.Expires.Equal(before.Expires) || !rec.Created.Equal(before.Created) || !rec.LastSeen.Equal(before.LastSeen):
		t.Errorf("tombstone version %d, created %v, last seen %v, expires %v; want %d, %v, %v, %v",
			rec.Version, rec.Created, rec.LastSeen, rec.Expires, version, before.Created, before.LastSeen, before.Expires)
	}
}

// A commit that lands between DeleteUser's read of a record and its swap
// makes the swap fail: DeleteUser reads the record again and ends it at its
// new version, so the commit cannot bring the session back, and the next
// write with the session's token finds it ended.
func TestDeleteUserEndsRecordACommitChanged(t *testing.T) {
	t.Parallel()
	hooked, direct, once := twoStores(t)
	ctx := t.Context()
	user, id := "erin", randomHex(32)
	createUserSession(t, direct, id, user)
	var committed *store.Record
	once(func() {
		touched := time.Now().Add(2 * time.Hour)
		if _, err := direct.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"b": []byte("2")}, Expires: touched}); err != nil {
			t.Errorf("racing commit: %v", err)
		}
		committed = mustLoad(t, direct, id)
	})
	if n, err := hooked.DeleteUser(ctx, user); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 1, nil", n, err)
	}
	if committed == nil {
		t.Fatal("the racing commit did not run")
	}
	wantEndedAt(t, direct, id, committed, committed.Version+1)
	_, err := direct.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"late": []byte("x")}})
	if m, ok := store.IsMoved(err); !ok || m.Moved.To != id || m.Moved.Forwards() {
		t.Errorf("a commit after DeleteUser: %v, want a *store.MovedError to its own ID", err)
	}
	if infos, err := direct.UserSessions(ctx, user); len(infos) != 0 || err != nil {
		t.Errorf("UserSessions = %v, %v; want none", infos, err)
	}
}

// A commit that read the record before DeleteUser ended it fails its swap,
// reads again and finds the tombstone: it reports the session ended and
// writes nothing, so it cannot bring the session back.
func TestCommitRacingDeleteUserFindsItEnded(t *testing.T) {
	t.Parallel()
	hooked, direct, once := twoStores(t)
	ctx := t.Context()
	user, id := "frank", randomHex(32)
	createUserSession(t, direct, id, user)
	before := mustLoad(t, direct, id)
	ran := false
	once(func() {
		ran = true
		if n, err := direct.DeleteUser(ctx, user); n != 1 || err != nil {
			t.Errorf("racing DeleteUser = %d, %v; want 1, nil", n, err)
		}
	})
	_, err := hooked.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"late": []byte("x")}})
	if !ran {
		t.Fatal("the racing DeleteUser did not run")
	}
	if m, ok := store.IsMoved(err); !ok || m.Moved.To != id || m.Moved.Forwards() {
		t.Errorf("the commit racing DeleteUser: %v, want a *store.MovedError to its own ID", err)
	}
	wantEndedAt(t, direct, id, before, before.Version+1)
}

// Tombstones that point at their own ID but that this DeleteUser did not
// leave (a logout's, an earlier DeleteUser's) are neither counted nor
// changed, also when the user's index still lists them.
func TestDeleteUserLeavesOthersTombstones(t *testing.T) {
	t.Parallel()
	_, s, _ := twoStores(t)
	ctx := t.Context()
	user := "grace"
	loggedOut, ended := randomHex(32), randomHex(32)
	createUserSession(t, s, loggedOut, user)
	createUserSession(t, s, ended, user)
	if err := s.Move(ctx, loggedOut, store.Moved{To: loggedOut}, time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	endedBefore := mustLoad(t, s, ended)
	if n, err := s.DeleteUser(ctx, user); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 1 (the logged-out session is not counted)", n, err)
	}
	wantEndedAt(t, s, ended, endedBefore, endedBefore.Version+1)
	// The index lists both again, as a lost clean-up or a racing writer
	// can leave it.
	var tombs []*store.Record
	for _, id := range []string{loggedOut, ended} {
		tombs = append(tombs, mustLoad(t, s, id))
		if _, _, err := s.ensureIndexed(ctx, user, id, time.Now().Add(time.Hour), true); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteUser(ctx, user); n != 0 || err != nil {
		t.Errorf("DeleteUser over tombstones = %d, %v; want 0, nil", n, err)
	}
	for i, id := range []string{loggedOut, ended} {
		if rec := mustLoad(t, s, id); rec.Moved == nil || rec.Moved.To != id || rec.Version != tombs[i].Version {
			t.Errorf("tombstone %d: %+v, want it unchanged at version %d", i, rec, tombs[i].Version)
		}
	}
}

// DeleteUser leaves a tombstone that memcached keeps until the session
// would have expired (its item's expiry, as Move sets it), not a marker it
// drops within a minute, and marks it in the item's flags, which hold no
// index deadline on a tombstone (it names no user).
func TestDeleteUserTombstoneItem(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	client := memcache.New(srv.Addr())
	client.Timeout = 5 * time.Second
	t.Cleanup(func() { client.Close() })
	s := New(client, WithKeyPrefix("t"+randomHex(4)+":"))
	ctx := t.Context()
	user, id := "heidi", randomHex(32)
	createUserSession(t, s, id, user)
	if n, err := s.DeleteUser(ctx, user); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 1, nil", n, err)
	}
	key, _ := s.recordKey(id)
	it, rec, err := s.getRecord(ctx, key)
	if err != nil || it == nil {
		t.Fatalf("getRecord: %v, %v", it, err)
	}
	if it.Flags == 0 {
		t.Error("the tombstone's item carries no mark in its flags")
	}
	if rec.Moved == nil || rec.Moved.To != id {
		t.Errorf("tombstone %+v, want one to its own ID", rec)
	}
	// The session had an hour left: memcached keeps the item that long
	// (rounded up and padded, and a second more on a loaded machine), where
	// a marker would go in 30 seconds.
	if ttl := itemTTL(t, srv.Addr(), key); ttl < 3590 || ttl > 3605 {
		t.Errorf("the tombstone's item expires in %d s, want the session's hour", ttl)
	}
}

// itemTTL asks memcached (meta get, 1.6) how many seconds the item under key
// has left.
func itemTTL(t *testing.T, addr, key string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("mg " + key + " t\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(line)[1:] {
		if ttl, ok := strings.CutPrefix(f, "t"); ok {
			n, err := strconv.Atoi(ttl)
			if err != nil {
				t.Fatalf("mg: %q", line)
			}
			return n
		}
	}
	t.Fatalf("mg: %q", line)
	return 0
}
