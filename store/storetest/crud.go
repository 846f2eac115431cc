package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var crudTests = []test{
	{"LoadMissing", testLoadMissing},
	{"LoadOddIDs", testLoadOddIDs},
	{"CreateLoad", testCreateLoad},
	{"CreateExisting", testCreateExisting},
	{"CreateSetsUserID", testCreateSetsUserID},
	{"UpdateMissing", testUpdateMissing},
	{"UpdateAfterDelete", testUpdateAfterDelete},
	{"UpdateKeepsCreatedAndUser", testUpdateKeepsCreatedAndUser},
	{"Touch", testTouch},
	{"TouchMissing", testTouchMissing},
	{"Delete", testDelete},
	{"DeleteMissing", testDeleteMissing},
	{"DeleteThenCreate", testDeleteThenCreate},
}

// A missing record is not an error: Load returns (nil, nil).
func testLoadMissing(t *testing.T, e *env) {
	s := e.store(t)
	rec, err := s.Load(e.ctx(t), newID())
	if rec != nil || err != nil {
		t.Fatalf("Load of a missing id = %v, %v; want nil, nil", rec, err)
	}
}

// Stores may rely on the ID's shape but must not panic on other strings.
func testLoadOddIDs(t *testing.T, e *env) {
	s := e.store(t)
	for _, id := range []string{"", "x", "{slot}:a b", "\x00", "ключ", strings.Repeat("f", 1000), "*", "%s%n"} {
		rec, err := s.Load(e.ctx(t), id)
		if err == nil && rec != nil {
			t.Errorf("Load(%q) found a record that was never created", id)
		}
	}
}

func testCreateLoad(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	now := e.now()
	values := map[string][]byte{"a": []byte("1"), "b": {0, 1, 2, 0xff}, "cart": []byte(`{"n":3}`)}
	c := store.Change{
		Mode:      store.Create,
		Created:   now.Add(-2*time.Hour - 123456789), // sub-millisecond parts on purpose
		LastSeen:  now.Add(-time.Minute - 987654),
		Expires:   now.Add(time.Hour + 555555),
		Set:       values,
		SetUserID: true,
		UserID:    user,
	}
	res := commit(t, s, id, c)
	if res.Version != 1 {
		t.Errorf("Create returned version %d, want 1", res.Version)
	}
	rec := mustLoad(t, s, id)
	wantValues(t, rec, values)
	if rec.UserID != user {
		t.Errorf("UserID = %q, want %q", rec.UserID, user)
	}
	wantTime(t, "Created", rec.Created, c.Created)
	wantTime(t, "LastSeen", rec.LastSeen, c.LastSeen)
	wantTime(t, "Expires", rec.Expires, c.Expires)
	if rec.Version != 1 {
		t.Errorf("Version = %d, want 1", rec.Version)
	}
	if rec.Moved != nil {
		t.Errorf("Moved = %+v, want nil", rec.Moved)
	}
}

func testCreateExisting(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	before := e.create(t, s, id, user, vals("a", "1"))

	c := e.change(store.Create)
	c.Set, c.SetUserID, c.UserID = vals("a", "2", "b", "3"), true, newUser()
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Create over an existing record", err, store.ErrExists)
	wantSameRecord(t, "record after a refused Create", mustLoad(t, s, id), before)
}

// "Create always sets UserID", even without SetUserID.
func testCreateSetsUserID(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	c := e.change(store.Create)
	c.UserID = user
	commit(t, s, id, c)
	if rec := mustLoad(t, s, id); rec.UserID != user {
		t.Errorf("UserID = %q, want %q (Create always sets it)", rec.UserID, user)
	}
	wantUserSessions(t, e, s, user, id)
}

// No resurrection: an update never creates a record.
func testUpdateMissing(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	c := e.change(store.Update)
	c.Set, c.SetUserID, c.UserID = vals("a", "1"), true, newUser()
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Update of a missing record", err, store.ErrNotFound)
	wantMissing(t, s, id, "after an Update of a missing record")
	wantUserSessions(t, e, s, c.UserID)
}

func testUpdateAfterDelete(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	e.create(t, s, id, user, vals("a", "1"))
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	c := e.change(store.Update)
	c.Set = vals("b", "2")
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Update after Delete", err, store.ErrNotFound)
	wantMissing(t, s, id, "after an Update of a deleted record")
	wantUserSessions(t, e, s, user)
}

// Update ignores Change.Created, and keeps the user id unless SetUserID.
func testUpdateKeepsCreatedAndUser(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	before := e.create(t, s, id, user, vals("a", "1"))

	c := e.change(store.Update)
	c.Created = before.Created.Add(-24 * time.Hour)
	c.UserID = newUser() // without SetUserID: ignored
	c.LastSeen = before.LastSeen.Add(time.Minute)
	c.Expires = before.Expires.Add(2 * time.Hour)
	commit(t, s, id, c)

	rec := mustLoad(t, s, id)
	wantTime(t, "Created", rec.Created, before.Created)
	wantTime(t, "LastSeen", rec.LastSeen, c.LastSeen)
	wantTime(t, "Expires", rec.Expires, c.Expires)
	if rec.UserID != user {
		t.Errorf("UserID = %q, want %q (SetUserID was false)", rec.UserID, user)
	}
	wantUserSessions(t, e, s, user, id)
	wantUserSessions(t, e, s, c.UserID)
}

func testTouch(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	values := vals("a", "1", "b", "2")
	before := e.create(t, s, id, user, values)

	lastSeen, expires := before.LastSeen.Add(90*time.Second), before.Expires.Add(3*time.Hour)
	if err := s.Touch(e.ctx(t), id, lastSeen, expires); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	rec := mustLoad(t, s, id)
	wantValues(t, rec, values)
	wantTime(t, "LastSeen", rec.LastSeen, lastSeen)
	wantTime(t, "Expires", rec.Expires, expires)
	wantTime(t, "Created", rec.Created, before.Created)
	if rec.UserID != user {
		t.Errorf("UserID = %q, want %q", rec.UserID, user)
	}
	if rec.Version <= before.Version {
		t.Errorf("Version after Touch = %d, want more than %d", rec.Version, before.Version)
	}
	wantUserSessions(t, e, s, user, id)
}

func testTouchMissing(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	now := e.now()
	err := s.Touch(e.ctx(t), id, now, now.Add(time.Hour))
	wantErr(t, "Touch of a missing record", err, store.ErrNotFound)
	wantMissing(t, s, id, "after a Touch of a missing record")
}

func testDelete(t *testing.T, e *env) {
	s := e.store(t)
	id, other, user := newID(), newID(), newUser()
	e.create(t, s, id, user, vals("a", "1"))
	e.create(t, s, other, user, vals("a", "1"))
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantMissing(t, s, id, "after Delete")
	wantUserSessions(t, e, s, user, other)
	mustLoad(t, s, other)
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Errorf("second Delete: %v, want nil", err)
	}
}

func testDeleteMissing(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Errorf("Delete of a missing record: %v, want nil", err)
	}
	wantMissing(t, s, id, "after Delete of a missing record")
}

// A record created again after a delete starts afresh: version 1, only the
// new values.
func testDeleteThenCreate(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, newUser(), vals("old", "1"))
	e.update(t, s, id, vals("old2", "2"))
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	user := newUser()
	rec := e.create(t, s, id, user, vals("new", "3"))
	wantValues(t, rec, vals("new", "3"))
	if rec.Version != 1 || rec.UserID != user {
		t.Errorf("re-created record has version %d, user %q; want 1, %q", rec.Version, rec.UserID, user)
	}
}
