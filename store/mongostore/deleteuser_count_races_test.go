package mongostore

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// DeleteUser's count when another node writes the user's sessions while it
// runs (between its two updateManys). The user has one session live by
// DeleteUser's clock (L, an hour left) and one that expired within the reap
// grace (G), which the first updateMany ends; the other node's write to G
// then finds a tombstone (or its reaper deletes it), and the count is L's
// plus any session the write made live. A login whose expiry has passed by
// DeleteUser's clock (a slower node's, with an idle timeout shorter than
// the skew) is the documented exception: ended and counted. A review of
// 8e90c00, which subtracted a count taken before the ending from what one
// updateMany matched, got 0 instead of 1 in the first three cases.
var _ = backendTest("DeleteUserCountWhenOtherNodesWrite", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	const skew = 30 * time.Second // both other nodes are within the reap grace
	cases := []struct {
		name string
		gAge time.Duration // how long ago G expired, by DeleteUser's clock
		// between runs on the other nodes; it returns a session it made
		// that DeleteUser must end, if any.
		between func(t *testing.T, ctx context.Context, slow, fast *Store, g string, slowNow func() time.Time) string
		want    int
		why     string
	}{
		{
			name: "SlowerNodeLogsOutG", gAge: time.Second,
			between: func(t *testing.T, ctx context.Context, slow, _ *Store, g string, slowNow func() time.Time) string {
				// G was ended first: a logout of an ended session is a
				// no-op (or sees the tombstone).
				if err := slow.Move(ctx, g, store.Moved{To: g}, slowNow().Add(time.Minute), 0); err != nil && !isMoved(err) {
					t.Errorf("the slower node's logout of G: %v", err)
				}
				return ""
			},
			want: 1, why: "L was live and is ended; G's logout is not DeleteUser's",
		},
		{
			name: "SlowerNodeHandsGOver", gAge: time.Second,
			between: func(t *testing.T, ctx context.Context, slow, _ *Store, g string, slowNow func() time.Time) string {
				if _, err := slow.Commit(ctx, g, store.Change{Mode: store.Update, SetUserID: true, UserID: "yan",
					LastSeen: slowNow(), Expires: slowNow().Add(time.Hour)}); !isMoved(err) {
					t.Errorf("the slower node's hand-over of G: %v, want a MovedError (G was ended first)", err)
				}
				return ""
			},
			want: 1, why: "L was live and is ended; G became another user's",
		},
		{
			name: "FasterNodeReapsG", gAge: 50 * time.Second,
			between: func(t *testing.T, ctx context.Context, _, fast *Store, _ string, _ func() time.Time) string {
				if n, err := fast.reap(ctx); n != 1 || err != nil {
					t.Errorf("the faster node's reaper deleted %d, %v; want G", n, err)
				}
				return ""
			},
			want: 1, why: "L was live and is ended; G was reaped",
		},
		{
			name: "SlowerNodeRotatesG", gAge: time.Second,
			between: func(t *testing.T, ctx context.Context, slow, _ *Store, g string, slowNow func() time.Time) string {
				n := newID()
				if _, err := slow.Commit(ctx, n, store.Change{Mode: store.Create, Created: slowNow(), LastSeen: slowNow(),
					Expires: slowNow().Add(time.Hour), UserID: "zed", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
					t.Errorf("the rotation's create: %v", err)
				}
				if err := slow.Move(ctx, g, store.Moved{To: n}, slowNow().Add(time.Minute), 0); !isMoved(err) {
					t.Errorf("the rotation's move: %v, want a MovedError (G was ended first)", err)
				}
				return n
			},
			want: 2, why: "L, and G's successor, live when the updateMany ran (counted as the doc counts a login in between)",
		},
		{
			name: "SlowerNodeLogsInExpiredByCallersClock", gAge: time.Second,
			between: func(t *testing.T, ctx context.Context, slow, _ *Store, _ string, slowNow func() time.Time) string {
				// Idle timeout 29 s by a clock 30 s slow: live for the slower
				// node, expired 1 s ago by DeleteUser's.
				n := newID()
				if _, err := slow.Commit(ctx, n, store.Change{Mode: store.Create, Created: slowNow(), LastSeen: slowNow(),
					Expires: slowNow().Add(skew - time.Second), UserID: "zed", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
					t.Errorf("the slower node's login: %v", err)
				}
				return n
			},
			want: 2, why: "the documented exception: a record another node writes into the grace window between the two updateManys is ended and counted",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Now())
			now := clock.Now()
			ctx := ctxT(t)
			slowNow := func() time.Time { return clock.Now().Add(-skew) }
			fastNow := func() time.Time { return clock.Now().Add(skew - 10*time.Second) }
			var slow, fast *Store
			var g, made string
			ran := false
			s := newStore(t, cl, WithClock(clock.Now), withBetweenEnds(func() {
				ran = true
				made = tc.between(t, ctx, slow, fast, g, slowNow)
			}))
			var err error
			if slow, err = New(context.Background(), s.coll, WithTimeout(testTimeout), WithClock(slowNow)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { slow.Close() })
			if fast, err = New(context.Background(), s.coll, WithTimeout(testTimeout), WithClock(fastNow)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fast.Close() })
			create := func(expires time.Time) string {
				t.Helper()
				id := newID()
				if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now.Add(-time.Hour), LastSeen: now,
					Expires: expires, UserID: "zed", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
					t.Fatalf("create: %v", err)
				}
				return id
			}
			l := create(now.Add(time.Hour))
			g = create(now.Add(-tc.gAge))

			n, err := s.DeleteUser(ctx, "zed")
			if err != nil || !ran {
				t.Fatalf("DeleteUser: %v (hook ran %v)", err, ran)
			}
			for _, id := range []string{l, made} {
				if id == "" {
					continue
				}
				if rec, err := slow.Load(ctx, id); err != nil || (rec != nil && rec.Moved == nil) {
					t.Errorf("session %.8s… live after DeleteUser: %+v, %v", id, rec, err)
				}
			}
			if n != tc.want {
				t.Errorf("DeleteUser = %d, want %d: %s", n, tc.want, tc.why)
			}
		})
	}
})

// Two nodes' DeleteUser at once (a "log out everywhere" clicked twice) and a
// login in between: each counts one session it ended while it was live (the
// other's L, then the login). 8e90c00 counted the login for neither.
var _ = backendTest("DeleteUserTwoAtOnceAndALogin", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	clock := storetest.NewClock(time.Now())
	now := clock.Now()
	ctx := ctxT(t)
	var other *Store
	var login string
	var n2 int
	var err2 error
	var s *Store
	create := func(st *Store, expires time.Time) string {
		t.Helper()
		id := newID()
		if _, err := st.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: expires,
			UserID: "xia", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Errorf("create: %v", err)
		}
		return id
	}
	s = newStore(t, cl, WithClock(clock.Now), withBetweenEnds(func() {
		n2, err2 = other.DeleteUser(ctx, "xia")
		login = create(other, now.Add(time.Hour))
	}))
	var err error
	if other, err = New(context.Background(), s.coll, WithTimeout(testTimeout), WithClock(clock.Now)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	create(s, now.Add(time.Hour))    // L
	create(s, now.Add(-time.Second)) // G, within the grace

	n1, err := s.DeleteUser(ctx, "xia")
	if err != nil || err2 != nil {
		t.Fatalf("DeleteUser: %v, %v", err, err2)
	}
	if rec, err := s.Load(ctx, login); err != nil || rec == nil || rec.Moved == nil {
		t.Fatalf("the login after DeleteUser: %+v, %v; want ended", rec, err)
	}
	if n2 != 1 || n1 != 1 {
		t.Errorf("DeleteUser = %d (the one the login landed in) and %d (the other); want 1 and 1: each ended one session live by its clock", n1, n2)
	}
})

func isMoved(err error) bool {
	var mv *store.MovedError
	return errors.As(err, &mv)
}
