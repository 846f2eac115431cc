package memcachestore_test

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// Skew of 30 s either way, with a lost reply on DeleteUser's swap
// and a rotation on the slow node. Each case ends with: no session of the
// user is live by the slow node's clock, the slow node's writes get a
// MovedError (not ErrNotFound), and the count is of sessions live by the
// caller's clock.
func TestDeleteUserSkewBothWays(t *testing.T) {
	t.Parallel()
	const skew = 30 * time.Second
	for _, tc := range []struct {
		name       string
		callerSkew time.Duration // DeleteUser's node relative to the writer
		left       time.Duration // session's time left by the writer's clock
		rotate     bool          // the writer rotated the session before DeleteUser
		loseReply  bool
		wantCount  int
	}{
		{"FastCallerLostReply", skew, 5 * time.Second, false, true, 0},
		{"FastCallerRotated", skew, 5 * time.Second, true, false, 0},
		{"SlowCaller", -skew, 5 * time.Second, false, false, 1},
		{"SlowCallerLostReply", -skew, 5 * time.Second, false, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Memcached(t)
			px := newProxy(t, srv.Addr())
			writer, caller, clock := skewedStores(t, srv.Addr(), px.addr(), tc.callerSkew)
			ctx := t.Context()
			user, id := "mallory", newID()
			start := clock.Now()
			if _, err := writer.Commit(ctx, id, store.Change{Mode: store.Create, Created: start, LastSeen: start, Expires: start.Add(100 * time.Second),
				Set: map[string][]byte{"a": []byte("1")}, UserID: user, SetUserID: true}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(100*time.Second - tc.left)
			live := id
			if tc.rotate {
				now := clock.Now()
				live = newID()
				if _, err := writer.Commit(ctx, live, store.Change{Mode: store.Create, Created: start, LastSeen: now, Expires: now.Add(tc.left),
					UserID: user, SetUserID: true}); err != nil {
					t.Fatal(err)
				}
				if err := writer.Move(ctx, id, store.Moved{To: live, Sealed: []byte("s")}, now.Add(tc.left), 0); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			run := func() {
				var err error
				if n, err = caller.DeleteUser(ctx, user); err != nil {
					t.Fatalf("DeleteUser: %v", err)
				}
			}
			if tc.loseReply {
				px.loseOnce(t, "STORED", run)
			} else {
				run()
			}
			if n != tc.wantCount {
				t.Errorf("DeleteUser = %d, want %d", n, tc.wantCount)
			}
			now := clock.Now()
			err := writer.Touch(ctx, live, now, now.Add(time.Hour))
			if _, ok := store.IsMoved(err); !ok {
				t.Errorf("Touch on the writer after DeleteUser: %v; want a MovedError", err)
			}
			_, err = writer.Commit(ctx, live, store.Change{Mode: store.Update, Set: map[string][]byte{"x": nil}, Expires: now.Add(time.Hour)})
			if _, ok := store.IsMoved(err); !ok {
				t.Errorf("Commit on the writer after DeleteUser: %v; want a MovedError", err)
			}
			if infos, err := writer.UserSessions(ctx, user); len(infos) != 0 || err != nil {
				t.Errorf("UserSessions = %v, %v; want none", infos, err)
			}
		})
	}
}
