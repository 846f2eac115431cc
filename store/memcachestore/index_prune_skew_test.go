package memcachestore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// The index clean-ups on a node whose clock runs 5 s ahead of the others',
// as TestDeleteUserOnAFastClockEndsSessionLiveElsewhere for DeleteUser
// itself: UserSessions, and the pruning that adding an entry to a long index
// does (here, another login of the same user), run when a session of the
// user has 2 s left by the other nodes' clocks and its index entry is past
// the grace period. The fast node must not list the session (it has expired
// by its clock) but must keep its entry: a slower node that checked the
// index less than 30 s ago commits to the session without reading the index
// again, extending it, and the session would then be live and unlisted, out
// of reach of UserSessions and of "log out everywhere" (DeleteUser returns 0
// and leaves it live) until its next index check. Entries of sessions that
// expired longer ago are still dropped, so the index stays bounded.
func TestIndexPruneOnAFastClockKeepsSessionLiveElsewhere(t *testing.T) {
	t.Parallel()
	srv := testserver.Memcached(t)
	for _, tc := range []struct {
		name string
		// prune runs the clean-up on the fast node, at a moment its clock
		// reads now, and returns the sessions of the user it made.
		prune func(t *testing.T, fast *memcachestore.Store, user string, now time.Time) int
	}{
		{"UserSessions", func(t *testing.T, fast *memcachestore.Store, user string, _ time.Time) int {
			if infos, err := fast.UserSessions(t.Context(), user); len(infos) != 0 || err != nil {
				t.Fatalf("UserSessions on the fast node = %v, %v; want none (expired by its clock), nil", infos, err)
			}
			return 0
		}},
		{"AnotherLogin", func(t *testing.T, fast *memcachestore.Store, user string, now time.Time) int {
			_, err := fast.Commit(t.Context(), newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now,
				Expires: now.Add(time.Hour), UserID: user, SetUserID: true})
			if err != nil {
				t.Fatal(err)
			}
			return 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			slow, fast, clock := skewedStores(t, srv.Addr(), "", 5*time.Second)
			ctx := t.Context()
			user, id := "alice", newID()
			create := func(id string, life time.Duration) {
				t.Helper()
				now := clock.Now()
				_, err := slow.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(life),
					Set: map[string][]byte{"a": []byte("1")}, UserID: user, SetUserID: true})
				if err != nil {
					t.Fatal(err)
				}
			}
			commit := func(set string, expires time.Time) error {
				_, err := slow.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{set: []byte("x")}, Expires: expires})
				return err
			}

			// Sessions of the user that ended long before: enough for an
			// added entry to prune the index, and entries that every
			// clean-up must drop.
			var old []string
			for range memcachestore.IndexPruneAt {
				old = append(old, newID())
				create(old[len(old)-1], 10*time.Second)
			}
			create(id, 2*time.Minute)

			// Memcached keeps the items by the real time; the stores' clocks
			// move on without a sleep. At 100 s the slow node commits, and
			// checks the index; at 118 s the session has 2 s left by the
			// slow node's clock and expired 3 s ago by the fast node's, and
			// every entry is past the grace period.
			clock.Advance(100 * time.Second)
			if err := commit("b", time.Time{}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(18 * time.Second)
			made := tc.prune(t, fast, user, clock.Now().Add(5*time.Second))

			ids, err := memcachestore.IndexedIDs(fast, ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ids, id) {
				t.Errorf("the fast node dropped the index entry of a session with 2 s left by the slow node's clock")
			}
			for _, o := range old {
				if slices.Contains(ids, o) {
					t.Errorf("the index still lists a session that expired %v ago by the fast node's clock; want it pruned", 113*time.Second)
					break
				}
			}

			// The slow node extends the session: its last index check was
			// 18 s ago, so the commit does not read the index.
			now := clock.Now()
			if err := commit("c", now.Add(30*time.Minute)); err != nil {
				t.Fatalf("Commit on the slow node with 2 s left: %v", err)
			}

			infos, err := slow.UserSessions(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(infos, func(i store.Info) bool { return i.ID == id }) {
				t.Errorf("UserSessions on the slow node = %v; want the extended session listed", infos)
			}
			if n, err := slow.DeleteUser(ctx, user); n != 1+made || err != nil {
				t.Errorf("DeleteUser on the slow node = %d, %v; want %d (the extended session and %d made by the clean-up's node), nil", n, err, 1+made, made)
			}
			err = commit("late", now.Add(30*time.Minute))
			if m, ok := store.IsMoved(err); !ok || m.Moved.To != id || m.Moved.Forwards() {
				t.Errorf("Commit on the slow node after DeleteUser: %v; want a *store.MovedError to its own ID (the session ended)", err)
			}
			err = slow.Touch(ctx, id, now, now.Add(30*time.Minute))
			if m, ok := store.IsMoved(err); !ok || m.Moved.To != id || m.Moved.Forwards() {
				t.Errorf("Touch on the slow node after DeleteUser: %v; want a *store.MovedError to its own ID (the session ended)", err)
			}
		})
	}
}
