package mysqlstore

import (
	"database/sql"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

func withAfterEnd(fn func()) Option {
	return func(c *config) { c.afterEnd = fn }
}

// DeleteUser's count is every session it ended that was live by its clock,
// also when a login of the user commits while its transaction runs. The
// login here commits right after the statement that ends the user's
// sessions: it is left live, neither ended nor counted, and the next
// UserSessions lists it, as the contract allows for a session that joins
// the user while DeleteUser runs (session.Manager.DestroyUser repeats until
// the listing is empty). A session that expired within the reap grace by
// the store's clock is ended and not counted.
var _ = backendTest("DeleteUserCountsWhatItEnds", func(t *testing.T, db *sql.DB, _ string) {
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
	s = newStore(t, db, WithClock(clock.Now), withAfterEnd(func() {
		if login == "" { // once, should InnoDB run the transaction again
			login = create(now.Add(time.Hour))
		}
	}))
	live := create(now.Add(time.Hour))
	create(now.Add(-time.Second)) // expired within the reap grace

	n, err := s.DeleteUser(ctx, "dana")
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if login == "" {
		t.Fatal("the login was not interleaved")
	}
	ended := 0
	for _, id := range []string{live, login} {
		if rec, err := s.Load(ctx, id); err != nil {
			t.Fatal(err)
		} else if rec != nil && rec.Moved != nil && rec.Moved.To == id {
			ended++
		}
	}
	if n != ended {
		t.Errorf("DeleteUser = %d, but it ended %d sessions that were live by its clock", n, ended)
	}
	if rec, _ := s.Load(ctx, live); rec == nil || rec.Moved == nil {
		t.Errorf("the session DeleteUser began with: %+v, want ended", rec)
	}
	infos, err := s.UserSessions(ctx, "dana")
	if err != nil || len(infos) != 1 || infos[0].ID != login {
		t.Errorf("UserSessions after DeleteUser: %+v, %v; want the login that committed after the sessions were ended", infos, err)
	}
})
