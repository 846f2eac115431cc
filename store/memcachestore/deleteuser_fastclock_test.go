package memcachestore_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// DeleteUser on a node whose clock runs 5 s ahead of the others', as
// pgstore's, mysqlstore's and mongostore's DeleteUserOnAFastClock: a session
// of the user with 2 s left by the other nodes' clocks, indexed long enough
// ago that its index entry is past the grace period. The fast node must end
// it (a tombstone), not skip it as expired and drop its index entry: a slower
// node would then touch or update it, and the session would outlive "log out
// everywhere", live and, until its next index check, unlisted.
func TestDeleteUserOnAFastClockEndsSessionLiveElsewhere(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	slow, fast, clock := skewedStores(t, srv.Addr(), "", 5*time.Second)
	ctx := t.Context()
	user, id := "alice", newID()

	// Memcached keeps the item until the real time plus two minutes; the
	// stores' clocks then move on 118 s (no sleep), so the index entry is
	// old and the session has 2 s left by the slow node's clock.
	start := clock.Now()
	if _, err := slow.Commit(ctx, id, store.Change{Mode: store.Create, Created: start, LastSeen: start, Expires: start.Add(2 * time.Minute),
		Set: map[string][]byte{"a": []byte("1")}, UserID: user, SetUserID: true}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(118 * time.Second)

	// Expired by the fast node's clock: not counted, but ended.
	if n, err := fast.DeleteUser(ctx, user); n != 0 || err != nil {
		t.Fatalf("DeleteUser on the fast node = %d, %v; want 0 (the session is not live by its clock), nil", n, err)
	}

	now := clock.Now()
	err := slow.Touch(ctx, id, now, now.Add(30*time.Minute))
	if m, ok := store.IsMoved(err); !ok || m.Moved.To != id || m.Moved.Forwards() {
		t.Errorf("Touch on the slow node after DeleteUser: %v; want a *store.MovedError to its own ID (the session ended)", err)
	}
	_, err = slow.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"late": []byte("x")}, Expires: now.Add(30 * time.Minute)})
	if m, ok := store.IsMoved(err); !ok || m.Moved.To != id || m.Moved.Forwards() {
		t.Errorf("Commit on the slow node after DeleteUser: %v; want a *store.MovedError to its own ID (the session ended)", err)
	}
	rec, err := slow.Load(ctx, id)
	switch {
	case err != nil:
		t.Errorf("Load on the slow node: %v", err)
	case rec != nil && (rec.Moved == nil || rec.Values.Len() != 0 || rec.UserID != ""):
		t.Errorf("Load on the slow node = a record moved %v, values %q, user %q, expires in %v; want the session ended",
			rec.Moved, rec.Values, rec.UserID, rec.Expires.Sub(clock.Now()))
	}
	if infos, err := slow.UserSessions(ctx, user); len(infos) != 0 || err != nil {
		t.Errorf("UserSessions on the slow node = %v, %v; want none", infos, err)
	}
	if n, err := slow.DeleteUser(ctx, user); n != 0 || err != nil {
		t.Errorf("DeleteUser on the slow node = %d, %v; want 0 (nothing left to end), nil", n, err)
	}
}
