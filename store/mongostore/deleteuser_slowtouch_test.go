package mongostore

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// A session live by DeleteUser's clock when the call began is ended, also
// if, while the call runs, a node whose clock is slower (by less than the
// reap grace) writes it an expiry at or before DeleteUser's now but after
// its own now. Touch and Commit set the expiry they are given, and a slower
// node computes an earlier one: with an idle timeout shorter than the skew,
// or at the lifetime cap (RememberMe(false) puts a session back on the
// default lifetime counted from its start). cf428d4 ended the sessions in
// two updateManys with disjoint filters (expired within the grace, then
// live), and a record that moved from the second's range into the first's
// between them was ended by neither: "log out everywhere" left it live for
// the slower node, under the user, and that node's next touch extended it.
var _ = backendTest("DeleteUserEndsASessionASlowerNodeTouches", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	clock := storetest.NewClock(time.Now())
	now := clock.Now()
	const skew = 30 * time.Second // the slower node's clock is behind: less than the reap grace
	slowNow := func() time.Time { return clock.Now().Add(-skew) }
	ctx := ctxT(t)

	var slow *Store
	var id string
	var touchErr error
	touched := false
	s := newStore(t, cl, WithClock(clock.Now), withBetweenEnds(func() {
		// The slower node's request touches the session: idle timeout
		// 29 s by its clock, so the expiry lands 1 s before DeleteUser's now.
		touched = true
		touchErr = slow.Touch(ctx, id, slowNow(), slowNow().Add(skew-time.Second))
	}))
	var err error
	slow, err = New(context.Background(), s.coll, WithTimeout(testTimeout), WithClock(slowNow))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })

	id = newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(10 * time.Second),
		UserID: "erin", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatalf("create: %v", err)
	}

	n, err := s.DeleteUser(ctx, "erin")
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if !touched || touchErr != nil {
		t.Fatalf("the slower node's touch: ran %v, %v", touched, touchErr)
	}
	t.Logf("DeleteUser = %d", n)
	rec, err := slow.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec != nil && rec.Moved == nil {
		t.Errorf("after DeleteUser the slower node loads the user's session live (user %q, expires %v by its clock %v): not ended",
			rec.UserID, rec.Expires.Sub(slowNow()), slowNow().Format(time.TimeOnly))
	}
	if infos, err := slow.UserSessions(ctx, "erin"); err != nil || len(infos) != 0 {
		t.Errorf("after DeleteUser the slower node lists %d sessions of the user, %v", len(infos), err)
	}
})
