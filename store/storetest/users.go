package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var userTests = []test{
	{"Index", testUserIndex},
	{"UnknownUser", testUnknownUser},
	{"SetUserIDMoves", testSetUserIDMoves},
	{"SetUserIDEmpty", testSetUserIDEmpty},
	{"UpdateKeepsIndex", testUpdateKeepsIndex},
	{"DeleteUser", testDeleteUser},
	{"DeleteUserCountsLive", testDeleteUserCountsLive},
	{"DeleteUserLeavesEnded", testDeleteUserLeavesEnded},
	{"DeleteUserOnAFastClock", testDeleteUserOnAFastClock},
	{"DeleteUserCountsALoginDuringIt", testDeleteUserCountsALoginDuringIt},
	{"DeleteUserRacingWrites", testDeleteUserRacingWrites},
	{"ManySessions", testManySessions},
	{"DeleteUserDuringRotations", testDeleteUserDuringRotations},
	{"UserSessionsDuringRotation", testUserSessionsDuringRotation},
	{"ExpiredNotListed", testExpiredNotListed},
	{"EmptyUserID", testEmptyUserID},
	{"HostileUserIDs", testHostileUserIDs},
}

// wantUserSessions checks that UserSessions(user) lists exactly ids, once each,
// under user.
func wantUserSessions(t *testing.T, e *env, s store.Store, user string, ids ...string) []store.Info {
	t.Helper()
	infos, err := s.UserSessions(e.ctx(t), user)
	if err != nil {
		t.Fatalf("UserSessions(%q): %v", user, err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, in.ID)
		if in.UserID != user {
			t.Errorf("UserSessions(%q) lists %.8s… under user %q", user, in.ID, in.UserID)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("UserSessions(%q) lists %s, want %s", user, short(got), short(want))
	}
	return infos
}

func short(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if len(id) > 8 {
			id = id[:8] + "…"
		}
		out[i] = id
	}
	return out
}

func testUserIndex(t *testing.T, e *env) {
	s := e.store(t)
	alice, bob := newUser(), newUser()
	var ids []string
	want := map[string]store.Change{}
	for i := range 3 {
		id := newID()
		ids = append(ids, id)
		c := e.change(store.Create)
		c.Created = c.Created.Add(-time.Duration(i+1) * time.Hour)
		c.LastSeen = c.LastSeen.Add(-time.Duration(i+1) * time.Minute)
		c.Expires = c.Expires.Add(time.Duration(i+1) * time.Minute)
		c.Set, c.SetUserID, c.UserID = vals("k", "v"), true, alice
		commit(t, s, id, c)
		want[id] = c
	}
	bobID := newID()
	e.create(t, s, bobID, bob, nil)

	for _, in := range wantUserSessions(t, e, s, alice, ids...) {
		c, ok := want[in.ID]
		if !ok {
			continue
		}
		wantTime(t, "Info.Created", in.Created, c.Created)
		wantTime(t, "Info.LastSeen", in.LastSeen, c.LastSeen)
		wantTime(t, "Info.Expires", in.Expires, c.Expires)
	}
	wantUserSessions(t, e, s, bob, bobID)

	// Info follows later writes.
	now := e.now()
	lastSeen, expires := now.Add(time.Second), now.Add(5*time.Hour)
	if err := s.Touch(e.ctx(t), ids[0], lastSeen, expires); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	for _, in := range wantUserSessions(t, e, s, alice, ids...) {
		if in.ID == ids[0] {
			wantTime(t, "Info.LastSeen after Touch", in.LastSeen, lastSeen)
			wantTime(t, "Info.Expires after Touch", in.Expires, expires)
		}
	}
}

func testUnknownUser(t *testing.T, e *env) {
	s := e.store(t)
	user := newUser()
	wantUserSessions(t, e, s, user)
	n, err := s.DeleteUser(e.ctx(t), user)
	if n != 0 || err != nil {
		t.Errorf("DeleteUser of an unknown user = %d, %v; want 0, nil", n, err)
	}
}

func testSetUserIDMoves(t *testing.T, e *env) {
	s := e.store(t)
	id, from, to := newID(), newUser(), newUser()
	e.create(t, s, id, from, vals("a", "1"))
	c := e.change(store.Update)
	c.SetUserID, c.UserID = true, to
	commit(t, s, id, c)
	if rec := mustLoad(t, s, id); rec.UserID != to {
		t.Errorf("UserID = %q, want %q", rec.UserID, to)
	}
	wantUserSessions(t, e, s, from)
	wantUserSessions(t, e, s, to, id)
	if n, err := s.DeleteUser(e.ctx(t), from); n != 0 || err != nil {
		t.Errorf("DeleteUser(old user) = %d, %v; want 0, nil", n, err)
	}
	mustLoad(t, s, id)
}

func testSetUserIDEmpty(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	e.create(t, s, id, user, vals("a", "1"))
	c := e.change(store.Update)
	c.SetUserID, c.UserID = true, ""
	commit(t, s, id, c)
	rec := mustLoad(t, s, id)
	if rec.UserID != "" {
		t.Errorf("UserID = %q, want it cleared", rec.UserID)
	}
	wantValues(t, rec, vals("a", "1"))
	wantUserSessions(t, e, s, user)
	if n, err := s.DeleteUser(e.ctx(t), user); n != 0 || err != nil {
		t.Errorf("DeleteUser = %d, %v; want 0, nil", n, err)
	}
	mustLoad(t, s, id)
}

func testUpdateKeepsIndex(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	e.create(t, s, id, user, nil)
	e.update(t, s, id, vals("a", "1"))
	wantUserSessions(t, e, s, user, id)
	// Setting the same user again must not list the session twice.
	c := e.change(store.Update)
	c.SetUserID, c.UserID = true, user
	commit(t, s, id, c)
	wantUserSessions(t, e, s, user, id)
}

func testDeleteUser(t *testing.T, e *env) {
	s := e.store(t)
	user, other := newUser(), newUser()
	ids := []string{newID(), newID(), newID()}
	for _, id := range ids {
		e.create(t, s, id, user, vals("a", "1"))
	}
	otherID := newID()
	e.create(t, s, otherID, other, vals("a", "1"))

	n, err := s.DeleteUser(e.ctx(t), user)
	if n != len(ids) || err != nil {
		t.Errorf("DeleteUser = %d, %v; want %d, nil", n, err, len(ids))
	}
	for _, id := range ids {
		wantNotLive(t, s, id, "after DeleteUser")
	}
	wantUserSessions(t, e, s, user)
	mustLoad(t, s, otherID)
	wantUserSessions(t, e, s, other, otherID)
	if n, err := s.DeleteUser(e.ctx(t), user); n != 0 || err != nil {
		t.Errorf("second DeleteUser = %d, %v; want 0, nil", n, err)
	}
	// The user may log in again.
	again := newID()
	e.create(t, s, again, user, nil)
	wantUserSessions(t, e, s, user, again)
}

// DeleteUser counts the live records it deleted: not expired, deleted or
// moved ones.
func testDeleteUserCountsLive(t *testing.T, e *env) {
	s := e.store(t)
	user := newUser()
	live := []string{newID(), newID()}
	for _, id := range live {
		e.create(t, s, id, user, nil)
	}

	bornExpired := newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(-time.Second)
	c.UserID = user
	commit(t, s, bornExpired, c)

	expiredLater := newID()
	e.create(t, s, expiredLater, user, nil)
	u := e.change(store.Update)
	u.Expires = u.LastSeen.Add(-time.Second)
	commit(t, s, expiredLater, u)

	deleted := newID()
	e.create(t, s, deleted, user, nil)
	if err := s.Delete(e.ctx(t), deleted); err != nil {
		t.Fatal(err)
	}

	movedID := newID()
	rec := e.create(t, s, movedID, user, nil)
	if err := s.Move(e.ctx(t), movedID, store.Moved{To: newID()}, e.now().Add(time.Hour), rec.Version); err != nil {
		t.Fatal(err)
	}

	wantUserSessions(t, e, s, user, live...)
	n, err := s.DeleteUser(e.ctx(t), user)
	if n != len(live) || err != nil {
		t.Errorf("DeleteUser = %d, %v; want %d, nil", n, err, len(live))
	}
	for _, id := range live {
		wantNotLive(t, s, id, "after DeleteUser")
	}
	if rec := load(t, s, movedID); rec == nil || rec.Moved == nil {
		t.Error("DeleteUser removed a tombstone that had left the user index")
	}
}

// A session that expires by itself leaves the listing.
func testExpiredNotListed(t *testing.T, e *env) {
	s := e.store(t)
	user, id, live := newUser(), newID(), newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(24 * time.Hour)
	c.UserID = user
	commit(t, s, live, c)
	e.expire(t, s, id, user, nil)
	wantUserSessions(t, e, s, user, live)
	if n, err := s.DeleteUser(e.ctx(t), user); n != 1 || err != nil {
		t.Errorf("DeleteUser = %d, %v; want 1, nil", n, err)
	}
}

// "" means "not indexed": it names no user, so no call on it may reach the
// sessions of anonymous users.
func testEmptyUserID(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1"))
	if infos, err := s.UserSessions(e.ctx(t), ""); err == nil {
		for _, in := range infos {
			if in.ID == id {
				t.Error(`UserSessions("") lists a session without a user`)
			}
		}
	}
	if n, err := s.DeleteUser(e.ctx(t), ""); err == nil && n != 0 {
		t.Errorf(`DeleteUser("") = %d, want 0`, n)
	}
	mustLoad(t, s, id)
}

// User ids are kept apart exactly, whatever characters they hold: in
// particular no pattern or prefix of one reaches another.
func testHostileUserIDs(t *testing.T, e *env) {
	s := e.store(t)
	base := newUser()
	// Patterns and prefixes come first: deleting each user checks that the
	// users after it are untouched.
	suffixes := []string{"*", "?", "[a]", "%", "%s", "_", "", ":", ":b", "{a}", "}", "{", " x", "\tx", "' OR 1=1 --", `"q"`, `\`, "/", ".", "ユーザー", "ü", "\U0001F600", "-"}
	users := make([]string, len(suffixes))
	ids := make(map[string]string, len(suffixes))
	for i, suf := range suffixes {
		users[i] = base + suf
		id := newID()
		ids[users[i]] = id
		e.create(t, s, id, users[i], vals("u", users[i]))
	}
	// A bare pattern, a prefix of every user id.
	prefixOnly := base[:len(base)-1] + "*"
	wantUserSessions(t, e, s, prefixOnly)

	for _, u := range users {
		wantUserSessions(t, e, s, u, ids[u])
		if rec := mustLoad(t, s, ids[u]); rec.UserID != u {
			t.Errorf("UserID = %q, want %q", rec.UserID, u)
		}
	}
	for i, u := range users {
		if n, err := s.DeleteUser(e.ctx(t), u); n != 1 || err != nil {
			t.Errorf("DeleteUser(%q) = %d, %v; want 1, nil", u, n, err)
		}
		wantNotLive(t, s, ids[u], "after DeleteUser of its user")
		for _, v := range users[i+1:] {
			if rec := load(t, s, ids[v]); rec == nil || rec.Moved != nil {
				t.Errorf("DeleteUser(%q) deleted the session of %q", u, v)
			}
		}
	}
}

// A user with dozens of sessions: an index that keeps few ids one way and
// many another (memstore's slice of up to 16, then a set) loses or
// duplicates none as the user grows past the boundary, shrinks back under
// it, and moves sessions to another user.
func testManySessions(t *testing.T, e *env) {
	s := e.store(t)
	user, other := newUser(), newUser()
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newID()
		e.create(t, s, ids[i], user, nil)
	}
	wantUserSessions(t, e, s, user, ids...)
	for _, id := range ids[6:] {
		if err := s.Delete(e.ctx(t), id); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	ids = ids[:6]
	wantUserSessions(t, e, s, user, ids...)
	for _, id := range ids[:2] {
		c := e.change(store.Update)
		c.SetUserID, c.UserID = true, other
		commit(t, s, id, c)
	}
	wantUserSessions(t, e, s, other, ids[:2]...)
	wantUserSessions(t, e, s, user, ids[2:]...)
	for range n {
		id := newID()
		ids = append(ids, id)
		e.create(t, s, id, user, nil)
	}
	wantUserSessions(t, e, s, user, ids[2:]...)
	if got, err := s.DeleteUser(e.ctx(t), user); got != len(ids)-2 || err != nil {
		t.Errorf("DeleteUser = %d, %v; want %d, nil", got, err, len(ids)-2)
	}
	wantUserSessions(t, e, s, user)
	wantUserSessions(t, e, s, other, ids[:2]...)
}
