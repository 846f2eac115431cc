package memcachestore

import (
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// rotatedChain creates a session of user under ids[0] and rotates it n
// times as the session layer does (create the new record, Move the old one
// to it), and returns the IDs, oldest first.
func rotatedChain(t *testing.T, s *Store, user string, n int) []string {
	t.Helper()
	ids := []string{"r2-" + randomHex(8)}
	createUserSession(t, s, ids[0], user)
	for range n {
		next := "r2-" + randomHex(8)
		createUserSession(t, s, next, user)
		if err := s.Move(t.Context(), ids[len(ids)-1], store.Moved{To: next}, time.Now().Add(time.Minute), 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, next)
	}
	return ids
}

// A session that rotated 34 times within a minute (its tombstones live a
// minute), whose first rotation's unindex was lost (best effort: "the entry
// left behind is one that readers skip and remove anyway"), is stable and
// indexed under its current ID. UserSessions fails with ErrConflict: follow
// walks the old tombstones from the lingering entry and counts each as a
// rotation "while it was being listed".
func TestUserSessionsStaleEntryLongChainIsNotAConflict(t *testing.T) {
	_, s, _ := twoStores(t)
	ctx := t.Context()
	ids := rotatedChain(t, s, "ike", 34)
	if _, _, err := s.ensureIndexed(ctx, "ike", ids[0], time.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	infos, err := s.UserSessions(ctx, "ike")
	if err != nil {
		t.Fatalf("UserSessions of a user with one stable session: %v", err)
	}
	if len(infos) != 1 || infos[0].ID != ids[len(ids)-1] {
		t.Fatalf("UserSessions = %+v, want the current session", infos)
	}
}

// The same state, and DeleteUser ("log out everywhere"): the chase from the
// lingering entry runs out of hops and DeleteUser fails with ErrConflict,
// returning at once, so whether the live session was ended depends on the
// order in which the map of index entries is ranged. It must end the one
// live session, count 1, and succeed.
func TestDeleteUserStaleEntryLongChain(t *testing.T) {
	_, s, _ := twoStores(t)
	ctx := t.Context()
	ids := rotatedChain(t, s, "jo", 34)
	if _, _, err := s.ensureIndexed(ctx, "jo", ids[0], time.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteUser(ctx, "jo")
	if errors.Is(err, store.ErrConflict) {
		rec := mustLoad(t, s, ids[len(ids)-1])
		t.Fatalf("DeleteUser = %d, %v (nothing is rotating); the live session ended: %v", n, err, rec.Moved != nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteUser = %d, want 1", n)
	}
	if rec := mustLoad(t, s, ids[len(ids)-1]); rec.Moved == nil {
		t.Errorf("the live session survived DeleteUser")
	}
}
