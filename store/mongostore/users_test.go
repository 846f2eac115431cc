package mongostore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

func withBetweenEnds(fn func()) Option {
	return func(c *config) { c.betweenEnds = fn }
}

// DeleteUser's count is every session it ended that was live by its clock,
// also when a login of the user commits while it runs. The login here
// commits between the updateMany that ends the sessions that expired within
// the reap grace (not counted) and the one that ends them all: it is live
// when that runs, so it is ended and counted, as a login that committed
// before DeleteUser began would be.
var _ = backendTest("DeleteUserCountsWhatItEnds", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	clock := storetest.NewClock(time.Now())
	now := clock.Now()
	ctx := ctxT(t)
	var s *Store
	create := func(expires time.Time) string {
		t.Helper()
		id := newID()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: expires,
			UserID: "dana", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Fatalf("create: %v", err)
		}
		return id
	}
	var login string
	s = newStore(t, cl, WithClock(clock.Now), withBetweenEnds(func() { login = create(now.Add(time.Hour)) }))
	live := create(now.Add(time.Hour))
	create(now.Add(-time.Second)) // expired within the reap grace

	n, err := s.DeleteUser(ctx, "dana")
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if login == "" {
		t.Fatal("the login was not interleaved")
	}
	for _, id := range []string{live, login} {
		if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != id {
			t.Errorf("session %.8s… after DeleteUser: %+v, %v; want ended", id, rec, err)
		}
	}
	if n != 2 {
		t.Errorf("DeleteUser = %d, want 2: the session it began with and the login it ended", n)
	}
	if infos, err := s.UserSessions(ctx, "dana"); len(infos) != 0 || err != nil {
		t.Errorf("UserSessions after DeleteUser: %+v, %v", infos, err)
	}
})
