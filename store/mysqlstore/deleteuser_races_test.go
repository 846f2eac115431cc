package mysqlstore

import (
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// DeleteUsers of one user on two nodes, racing
// logins of the user and a slower node's touches that move sessions'
// expiry to just before DeleteUser's now (inside the reap grace), end every
// session the user had when they began, and their counts add up to exactly
// the ended sessions that were live by their clock (their tombstones keep
// the expiry); a login they did not end is live and listed.
var _ = backendTest("DeleteUserRacesLoginsAndSlowTouches", func(t *testing.T, db *sql.DB, _ string) {
	clock := storetest.NewClock(time.Now())
	now := clock.Now()
	const skew = 30 * time.Second
	slowNow := func() time.Time { return clock.Now().Add(-skew) }
	ctx := ctxT(t)
	s := newStore(t, db, WithClock(clock.Now))
	node := newStore(t, db, WithTable(s.cfg.table), WithClock(clock.Now))
	slow := newStore(t, db, WithTable(s.cfg.table), WithClock(slowNow))

	create := func(st *Store, expires time.Time) string {
		id := newID()
		if _, err := st.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: expires,
			UserID: "fay", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Errorf("create: %v", err)
		}
		return id
	}
	var before []string
	for i := range 24 {
		before = append(before, create(s, now.Add(time.Duration(i+1)*time.Second)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := 0
	var logins []string
	for _, st := range []*Store{s, node} {
		wg.Go(func() {
			n, err := st.DeleteUser(ctx, "fay")
			if err != nil {
				t.Errorf("DeleteUser: %v", err)
			}
			mu.Lock()
			counts += n
			mu.Unlock()
		})
	}
	wg.Go(func() {
		for _, id := range before[:12] {
			// A slower node's write: an expiry 1 s before DeleteUser's now.
			err := slow.Touch(ctx, id, slowNow(), slowNow().Add(skew-time.Second))
			if _, moved := store.IsMoved(err); err != nil && !moved {
				t.Errorf("touch: %v", err)
			}
		}
	})
	wg.Go(func() {
		for range 6 {
			id := create(node, now.Add(time.Hour))
			mu.Lock()
			logins = append(logins, id)
			mu.Unlock()
		}
	})
	wg.Wait()

	liveEnded, loginsLive := 0, map[string]bool{}
	for _, id := range append(append([]string(nil), before...), logins...) {
		rec, err := slow.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rec != nil && rec.Moved != nil && rec.Moved.To == id:
			if rec.Expires.After(now) {
				liveEnded++
			}
		case rec != nil && rec.Moved == nil:
			loginsLive[id] = true
		}
	}
	for _, id := range before {
		if loginsLive[id] {
			t.Errorf("session %.8s… the user had before DeleteUser is live for the slower node after it", id)
		}
	}
	if counts != liveEnded {
		t.Errorf("DeleteUsers counted %d, but ended %d sessions live by their clock", counts, liveEnded)
	}
	infos, err := s.UserSessions(ctx, "fay")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(loginsLive) {
		t.Errorf("UserSessions lists %d, %d logins were left live", len(infos), len(loginsLive))
	}
})
