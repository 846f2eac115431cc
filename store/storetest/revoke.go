package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// "Log out everywhere" against devices that rotate while it runs, driven as
// session.Manager.DestroyUser drives the store: DeleteUser, then
// UserSessions, again until UserSessions lists nothing. Each device rotates
// as the session layer does: it creates its new record, then moves the old
// one to it, and deletes the new one if the Move fails (the session ended).
//
// A store may let a session that rotates during DeleteUser escape it, as
// long as the next UserSessions lists the session, or fail DeleteUser with
// store.ErrConflict (the devices here rotate in a tight loop, faster than
// any client over HTTP). Once a listing is empty,
// every device must have ended: a device that rotated during DeleteUser and
// again during the listing (its old record read as moved, its new one
// created after the index was read) must not be left logged in.
func testDeleteUserDuringRotations(t *testing.T, e *env) {
	s := e.store(t)
	const devices, rounds, maxPasses = 6, 6, 50
	ctx := t.Context()
	for round := range rounds {
		user := newUser()
		cur := make([]string, devices)
		for d := range cur {
			cur[d] = newID()
			e.create(t, s, cur[d], user, vals("a", "1"))
		}
		var rotations atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for d := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					next := newID()
					c := e.change(store.Create)
					c.UserID, c.SetUserID = user, true
					if _, err := s.Commit(ctx, next, c); err != nil {
						t.Errorf("device %d: Create: %v", d, err)
						return
					}
					if err := s.Move(ctx, cur[d], store.Moved{To: next}, e.now().Add(time.Minute), 0); err != nil {
						// Ended: the session layer discards the new record.
						_ = s.Delete(ctx, next)
						return
					}
					cur[d] = next
					rotations.Add(1)
				}
			}()
		}
		for deadline := time.Now().Add(5 * time.Second); rotations.Load() < 2*devices && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		var failed error
		for pass := 1; ; pass++ {
			if _, err := s.DeleteUser(ctx, user); errors.Is(err, store.ErrConflict) && pass < maxPasses {
				// A store may give up on a session that rotates faster
				// than it follows, if it says so; the caller retries.
				continue
			} else if err != nil {
				failed = fmt.Errorf("DeleteUser: %w", err)
				break
			}
			infos, err := s.UserSessions(ctx, user)
			if err != nil {
				failed = fmt.Errorf("UserSessions: %w", err)
				break
			}
			if len(infos) == 0 {
				break
			}
			if pass == maxPasses {
				failed = fmt.Errorf("%d sessions still listed after %d passes of DeleteUser", len(infos), pass)
				break
			}
		}
		// Devices still rotating after the empty listing would show here.
		time.Sleep(5 * time.Millisecond)
		close(stop)
		wg.Wait()
		if failed != nil {
			t.Fatalf("round %d: %v", round, failed)
		}
		for d, id := range cur {
			if rec := load(t, s, id); rec != nil && rec.Moved == nil && rec.Live(e.now()) {
				t.Errorf("round %d: device %d is still logged in after DeleteUser and an empty UserSessions (%d rotations in the round)", round, d, rotations.Load())
			}
		}
		if infos, err := s.UserSessions(ctx, user); len(infos) != 0 || err != nil {
			t.Errorf("round %d: UserSessions at the end = %d sessions, %v; want none", round, len(infos), err)
		}
	}
}

// A session that rotates while UserSessions runs, between its read of the
// user's index and its read of the sessions, is listed under the record it
// lives in now. Its new records were created (and indexed) after the index
// was read, and its old record is a tombstone, outside the index, when it is
// read: a listing that left it out would be empty with the user logged in,
// and session.Manager.DestroyUser, which repeats DeleteUser until a listing
// is empty, would stop there. It rotates twice, as a device that rotates
// again while the first rotation is followed.
func testUserSessionsDuringRotation(t *testing.T, e *env) {
	if e.cfg.duringList == nil {
		t.Skip("needs storetest.WithDuringUserSessions")
	}
	s := e.store(t)
	user, old, mid, cur := newUser(), newID(), newID(), newID()
	e.create(t, s, old, user, vals("a", "1"))
	rotate := func(from, to string) {
		t.Helper()
		c := e.change(store.Create)
		c.Set, c.UserID, c.SetUserID = vals("a", "1"), user, true
		commit(t, s, to, c)
		if err := s.Move(e.ctx(t), from, store.Moved{To: to}, e.now().Add(time.Minute), 0); err != nil {
			t.Fatalf("Move: %v", err)
		}
	}
	ran := false
	l := e.cfg.duringList(t, s, func() {
		if !ran { // once: a backend may read the index again
			ran = true
			rotate(old, mid)
			rotate(mid, cur)
		}
	})
	infos, err := l.UserSessions(e.ctx(t), user)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	if !ran {
		t.Fatal("the backend's UserSessions never ran the rotations")
	}
	if len(infos) != 1 || infos[0].ID != cur || infos[0].UserID != user {
		var got []string
		for _, in := range infos {
			got = append(got, fmt.Sprintf("%.8s…", in.ID))
		}
		t.Errorf("UserSessions during two rotations lists %v, want the session's current record %.8s… (the first was %.8s…)", got, cur, old)
	}
	wantUserSessions(t, e, s, user, cur)
}

// DeleteUser ends each live session of the user as a logout does: its record
// becomes a tombstone that forwards nothing (Moved.To its own ID, no Sealed),
// with no values, user or attributes and a version above the record's, kept
// until the record would have expired and listed under no user. A request in
// flight with the session's token when DeleteUser ran then finds that its
// session ended, and drops its changes. Had the record simply gone, a request
// that only writes could not tell it from an expired one and would save its
// changes in a new session (session.Manager.DestroyUser's in-flight race).
func testDeleteUserLeavesEnded(t *testing.T, e *env) {
	s := e.store(t)
	user, id, short := newUser(), newID(), newID()
	c := e.change(store.Create)
	c.Set, c.SetUserID, c.UserID = vals("a", "1"), true, user
	c.SetAttrs, c.Attrs = true, deviceAttrs()
	commit(t, s, id, c)
	before := mustLoad(t, s, id)
	// A second session that expires soon, to see its tombstone go with it.
	c.Expires = e.now().Add(e.ttl())
	commit(t, s, short, c)

	if n, err := s.DeleteUser(e.ctx(t), user); n != 2 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 2, nil", n, err)
	}
	wantEnded(t, s, id, before, "after DeleteUser")
	wantUserSessions(t, e, s, user)

	u := e.change(store.Update)
	u.Set = vals("late", "write")
	_, err := s.Commit(e.ctx(t), id, u)
	wantMoved(t, "Update after DeleteUser", err, store.Moved{To: id})
	err = s.Touch(e.ctx(t), id, e.now(), e.now().Add(time.Hour))
	wantMoved(t, "Touch after DeleteUser", err, store.Moved{To: id})

	// The ended record is no longer the user's: a second pass (DestroyUser
	// repeats until the listing is empty) finds nothing and keeps it.
	if n, err := s.DeleteUser(e.ctx(t), user); n != 0 || err != nil {
		t.Errorf("second DeleteUser = %d, %v; want 0, nil", n, err)
	}
	wantEnded(t, s, id, before, "after a second DeleteUser")
	e.wantExpires(t, s, short, c.Expires)
}

// A node whose clock runs 5 s ahead runs DeleteUser while a session of the
// user has 3 s left by the other nodes' clocks. It must end the session (an
// in-flight write gets a MovedError), not delete it as expired (a write-only
// request would get ErrNotFound and save its changes in a new session). It
// counts the session if the clock that judges liveness is the server's
// (Redis's), not if it is the caller's (expired by it).
func testDeleteUserOnAFastClock(t *testing.T, e *env) {
	if e.cfg.node == nil {
		t.Skip("needs storetest.WithNode")
	}
	s := e.store(t)
	ahead := e.cfg.node(t, s, func() time.Time { return e.now().Add(5 * time.Second) })
	user, id := newUser(), newID()
	c := e.change(store.Create)
	c.Set, c.SetUserID, c.UserID = vals("a", "1"), true, user
	c.Expires = e.now().Add(3 * time.Second)
	commit(t, s, id, c)
	before := mustLoad(t, s, id)

	if n, err := ahead.DeleteUser(e.ctx(t), user); (n != 0 && n != 1) || err != nil {
		t.Errorf("DeleteUser on the node 5 s ahead = %d, %v; want 0 or 1, nil", n, err)
	}
	u := e.change(store.Update)
	u.Set = vals("b", "2")
	_, err := s.Commit(e.ctx(t), id, u)
	wantMoved(t, "an in-flight write after DeleteUser on a node ahead", err, store.Moved{To: id})
	wantEnded(t, s, id, before, "after DeleteUser on a node ahead")
}

// DeleteUser's count is every session it ended that was live by its clock,
// also when a login of the user commits while it runs: the login is either
// ended and counted (the backend ended it with the others), or left live,
// not counted, and listed by the next UserSessions (it joined the user
// after the sessions were ended, which the contract allows;
// session.Manager.DestroyUser repeats until the listing is empty). A
// session that expired a second ago is not counted, and the one the call
// began with is ended.
func testDeleteUserCountsALoginDuringIt(t *testing.T, e *env) {
	if e.cfg.during == nil {
		t.Skip("needs storetest.WithDuringDeleteUser")
	}
	s := e.store(t)
	user := newUser()
	create := func(expires time.Time) string {
		t.Helper()
		id := newID()
		c := e.change(store.Create)
		c.Set, c.SetUserID, c.UserID, c.Expires = vals("k", "v"), true, user, expires
		commit(t, s, id, c)
		return id
	}
	var login string
	var once sync.Once
	d := e.cfg.during(t, s, e.now, func() {
		once.Do(func() { login = create(e.now().Add(time.Hour)) }) // once: a transaction may run again
	})
	live := create(e.now().Add(time.Hour))
	create(e.now().Add(-time.Second))

	n, err := d.DeleteUser(e.ctx(t), user)
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if login == "" {
		t.Fatal("the backend's DeleteUser never ran the login")
	}
	ended := 0
	for _, id := range []string{live, login} {
		if rec := load(t, s, id); rec != nil && rec.Moved != nil && rec.Moved.To == id {
			ended++
		}
	}
	if n != ended {
		t.Errorf("DeleteUser = %d, but it ended %d sessions that were live by its clock", n, ended)
	}
	if rec := load(t, s, live); rec == nil || rec.Moved == nil {
		t.Errorf("the session DeleteUser began with: %s, want ended", describe(rec))
	}
	if rec := load(t, s, login); rec != nil && rec.Moved == nil {
		wantUserSessions(t, e, s, user, login) // left live: listed
	} else {
		wantUserSessions(t, e, s, user)
	}
}

// wantEnded checks that the record under id, before as loaded, is now a
// tombstone that forwards nothing and keeps nothing of the session.
func wantEnded(t *testing.T, s store.Store, id string, before *store.Record, why string) {
	t.Helper()
	rec := load(t, s, id)
	switch {
	case rec == nil:
		t.Errorf("%s: Load = nil, want a tombstone that forwards nothing (a late write would start a new session)", why)
	case rec.Moved == nil:
		t.Errorf("%s: Load = a live record (%s), want a tombstone", why, describe(rec))
	default:
		if rec.Moved.To != id || rec.Moved.Forwards() {
			t.Errorf("%s: tombstone forwards to %.8s… with %d sealed bytes, want its own ID and none", why, rec.Moved.To, len(rec.Moved.Sealed))
		}
		if rec.Values.Len() != 0 || rec.UserID != "" || len(rec.Attrs) != 0 {
			t.Errorf("%s: tombstone keeps %d values, user %q, %d attributes; want none", why, rec.Values.Len(), rec.UserID, len(rec.Attrs))
		}
		if rec.Version <= before.Version {
			t.Errorf("%s: tombstone version %d, want above the record's %d", why, rec.Version, before.Version)
		}
		wantTime(t, "tombstone Expires", rec.Expires, before.Expires)
	}
}

// wantNotLive checks that id has no live record: gone, or a tombstone.
func wantNotLive(t *testing.T, s store.Store, id, why string) {
	t.Helper()
	if rec := load(t, s, id); rec != nil && rec.Moved == nil {
		t.Errorf("%s: %.8s… is still a live record (%s)", why, id, describe(rec))
	}
}

// DeleteUser racing the writes a session of the user can see at that moment:
// a commit that gives it to another user, a rotation (create the new record,
// then move the old one to it), a plain update. A write that succeeded is not
// undone: a session given to another user stays live and that user's, and a
// moved record keeps forwarding where its Move sent it; every other session
// of the user has ended.
func testDeleteUserRacingWrites(t *testing.T, e *env) {
	s := e.store(t)
	const rounds, n = 5, 12
	ctx := t.Context()
	for round := range rounds {
		user, other := newUser(), newUser()
		ids := make([]string, n)
		for i := range ids {
			ids[i] = newID()
			e.create(t, s, ids[i], user, vals("k", "v"))
		}
		given := make([]bool, n)
		movedTo := make([]string, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				<-start
				switch i % 3 {
				case 0:
					c := e.change(store.Update)
					c.SetUserID, c.UserID = true, other
					_, err := s.Commit(ctx, id, c)
					given[i] = err == nil
				case 1:
					next := newID()
					c := e.change(store.Create)
					c.SetUserID, c.UserID = true, user
					if _, err := s.Commit(ctx, next, c); err != nil {
						t.Errorf("rotation's Create: %v", err)
						return
					}
					if err := s.Move(ctx, id, store.Moved{To: next}, e.now().Add(time.Minute), 0); err == nil {
						movedTo[i] = next
					} else {
						_ = s.Delete(ctx, next) // ended: the session layer discards it
					}
				default:
					c := e.change(store.Update)
					c.Set = vals("x", "y")
					_, _ = s.Commit(ctx, id, c)
				}
			})
		}
		var deleteErr error
		wg.Go(func() {
			<-start
			_, deleteErr = s.DeleteUser(ctx, user)
		})
		close(start)
		wg.Wait()
		// A store may give up on a session that keeps changing, if it says
		// so; DestroyUser then runs it again.
		for retry := 0; errors.Is(deleteErr, store.ErrConflict) && retry < 5; retry++ {
			_, deleteErr = s.DeleteUser(ctx, user)
		}
		if deleteErr != nil {
			t.Fatalf("round %d: DeleteUser: %v", round, deleteErr)
		}
		for i, id := range ids {
			rec := load(t, s, id)
			switch {
			case given[i]:
				if rec == nil || rec.Moved != nil || rec.UserID != other {
					t.Errorf("round %d: session %d was given to another user, but after DeleteUser of the old one it is %s", round, i, describe(rec))
				}
			case movedTo[i] != "":
				if rec == nil || rec.Moved == nil || rec.Moved.To != movedTo[i] {
					t.Errorf("round %d: session %d moved, but after DeleteUser its tombstone is %s", round, i, describe(rec))
				}
			case i%3 != 1:
				if rec != nil && rec.Moved == nil && rec.UserID == user {
					t.Errorf("round %d: session %d is still the user's after DeleteUser: %s", round, i, describe(rec))
				}
			}
		}
	}
}
