package storetest

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var moveTests = []test{
	{"Tombstone", testTombstone},
	{"UpdateOnTombstone", testUpdateOnTombstone},
	{"TouchOnTombstone", testTouchOnTombstone},
	{"CreateOnTombstone", testCreateOnTombstone},
	{"WrongVersion", testMoveWrongVersion},
	{"AnyVersion", testMoveAnyVersion},
	{"UpdateLiveAt", testUpdateLiveAt},
	{"Missing", testMoveMissing},
	{"MoveTombstone", testMoveTombstone},
	{"AfterCommit", testMoveAfterCommit},
	{"LeavesUserIndex", testMoveLeavesUserIndex},
	{"DeleteTombstone", testDeleteTombstone},
	{"DoesNotRetainSealed", testMoveDoesNotRetainSealed},
	{"TombstoneExpires", testTombstoneExpires},
	{"Resend", testMoveResend},
	{"EndedTombstone", testEndedTombstone},
	{"WritesOnEndedTombstone", testWritesOnEndedTombstone},
}

// sealed is an opaque blob with the bytes a careless store would mangle.
func sealed() []byte { return []byte{0, 1, 0xff, 0xfe, '\n', 0, 'z', 0x80} }

// moved creates a record, moves it, and returns the forwarding and the
// record as it was before the move.
func (e *env) moved(t *testing.T, s store.Store, id string) (store.Moved, *store.Record) {
	t.Helper()
	before := e.create(t, s, id, newUser(), vals("a", "1", "b", "2"))
	m := store.Moved{To: newID(), Sealed: sealed()}
	if err := s.Move(e.ctx(t), id, m, e.now().Add(30*time.Minute), before.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	return m, before
}

func testTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, newUser(), vals("a", "1", "b", "2"))
	m := store.Moved{To: newID(), Sealed: sealed()}
	grace := e.now().Add(30*time.Second + 123456)
	if err := s.Move(e.ctx(t), id, m, grace, before.Version); err != nil {
		t.Fatalf("Move with the current version: %v", err)
	}
	rec := mustLoad(t, s, id)
	if rec.Moved == nil {
		t.Fatal("Load after Move: Moved is nil, want a tombstone")
	}
	if rec.Moved.To != m.To {
		t.Errorf("Moved.To = %q, want %q", rec.Moved.To, m.To)
	}
	if string(rec.Moved.Sealed) != string(m.Sealed) {
		t.Errorf("Moved.Sealed = %x, want %x", rec.Moved.Sealed, m.Sealed)
	}
	if rec.Values.Len() != 0 {
		t.Errorf("tombstone keeps %d values, want none", rec.Values.Len())
	}
	wantTime(t, "tombstone Expires", rec.Expires, grace)
	// Move is a write: caches order writes by version.
	if rec.Version <= before.Version {
		t.Errorf("tombstone version %d, want more than the record's %d", rec.Version, before.Version)
	}
}

func testUpdateOnTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	m, _ := e.moved(t, s, id)
	tomb := cloneRecord(mustLoad(t, s, id))

	c := e.change(store.Update)
	c.Set, c.Delete, c.Clear, c.SetUserID, c.UserID = vals("a", "x"), []string{"b"}, true, true, newUser()
	_, err := s.Commit(e.ctx(t), id, c)
	wantMoved(t, "Update on a tombstone", err, m)
	wantSameRecord(t, "tombstone after a refused Update", mustLoad(t, s, id), tomb)
	wantUserSessions(t, e, s, c.UserID)
}

func testTouchOnTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	m, _ := e.moved(t, s, id)
	tomb := cloneRecord(mustLoad(t, s, id))
	now := e.now()
	wantMoved(t, "Touch on a tombstone", s.Touch(e.ctx(t), id, now, now.Add(24*time.Hour)), m)
	wantSameRecord(t, "tombstone after a refused Touch", mustLoad(t, s, id), tomb)
}

// A live tombstone occupies its ID.
func testCreateOnTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.moved(t, s, id)
	tomb := cloneRecord(mustLoad(t, s, id))
	c := e.change(store.Create)
	c.Set = vals("a", "1")
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Create on a tombstone", err, store.ErrExists)
	wantSameRecord(t, "tombstone after a refused Create", mustLoad(t, s, id), tomb)
}

func testMoveWrongVersion(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, newUser(), vals("a", "1"))
	e.update(t, s, id, vals("b", "2"))
	before := cloneRecord(mustLoad(t, s, id))
	for _, v := range []uint64{before.Version - 1, before.Version + 1} {
		err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: sealed()}, e.now().Add(time.Minute), v)
		wantErr(t, "Move with a stale version", err, store.ErrConflict)
	}
	wantSameRecord(t, "record after refused Moves", mustLoad(t, s, id), before)
}

// testMoveAnyVersion: ifVersion 0 ends a record whatever its version, but
// still never a tombstone or a missing record.
func testMoveAnyVersion(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, newUser(), vals("a", "1"))
	e.update(t, s, id, vals("b", "2"))
	before := mustLoad(t, s, id)
	to := newID()
	if err := s.Move(e.ctx(t), id, store.Moved{To: to}, e.now().Add(time.Minute), 0); err != nil {
		t.Fatalf("Move with ifVersion 0: %v", err)
	}
	after := mustLoad(t, s, id)
	if after == nil || after.Moved == nil || after.Moved.To != to || after.Version <= before.Version {
		t.Fatalf("after Move with ifVersion 0: %+v", after)
	}
	err := s.Move(e.ctx(t), id, store.Moved{To: newID()}, e.now().Add(time.Minute), 0)
	if _, ok := store.IsMoved(err); !ok {
		t.Errorf("Move with ifVersion 0 on a tombstone: %v, want a *MovedError", err)
	}
	err = s.Move(e.ctx(t), newID(), store.Moved{To: newID()}, e.now().Add(time.Minute), 0)
	wantErr(t, "Move with ifVersion 0 of a missing record", err, store.ErrNotFound)
}

func testMoveMissing(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: sealed()}, e.now().Add(time.Minute), 1)
	wantErr(t, "Move of a missing record", err, store.ErrNotFound)
	wantMissing(t, s, id, "after a Move of a missing record")
}

// A tombstone cannot be moved again, even with its own version.
func testMoveTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	m, _ := e.moved(t, s, id)
	tomb := cloneRecord(mustLoad(t, s, id))
	err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: []byte("other")}, e.now().Add(time.Hour), tomb.Version)
	wantMoved(t, "Move of a tombstone", err, m)
	wantSameRecord(t, "tombstone after a refused Move", mustLoad(t, s, id), tomb)
}

// The version a Commit returns is the one Move checks.
func testMoveAfterCommit(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1"))
	res := e.update(t, s, id, vals("b", "2"))
	if err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: sealed()}, e.now().Add(time.Minute), res.Version); err != nil {
		t.Fatalf("Move with the version Commit returned: %v", err)
	}
	if rec := mustLoad(t, s, id); rec.Moved == nil {
		t.Error("record not moved")
	}
}

func testMoveLeavesUserIndex(t *testing.T, e *env) {
	s := e.store(t)
	id, other, user := newID(), newID(), newUser()
	before := e.create(t, s, id, user, vals("a", "1"))
	e.create(t, s, other, user, vals("a", "1"))
	if err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: sealed()}, e.now().Add(time.Minute), before.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	wantUserSessions(t, e, s, user, other)
	n, err := s.DeleteUser(e.ctx(t), user)
	if err != nil || n != 1 {
		t.Errorf("DeleteUser = %d, %v; want 1 (the tombstone is not the user's session)", n, err)
	}
}

func testDeleteTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.moved(t, s, id)
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatalf("Delete of a tombstone: %v", err)
	}
	wantMissing(t, s, id, "after Delete of a tombstone")
}

func testMoveDoesNotRetainSealed(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, "", nil)
	m := store.Moved{To: newID(), Sealed: sealed()}
	if err := s.Move(e.ctx(t), id, m, e.now().Add(time.Minute), before.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	copy(m.Sealed, "MUTATED!")
	if rec := mustLoad(t, s, id); rec.Moved == nil || string(rec.Moved.Sealed) != string(sealed()) {
		t.Errorf("tombstone changed with the caller's Sealed slice: %+v", rec.Moved)
	}
}

// After its grace period a tombstone is gone, and its ID is free.
func testTombstoneExpires(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, "", vals("a", "1"))
	grace := e.now().Add(e.ttl())
	if err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: sealed()}, grace, before.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	e.wantExpires(t, s, id, grace)
	c := e.change(store.Update)
	c.Set = vals("b", "2")
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Update on an expired tombstone", err, store.ErrNotFound)
	wantMissing(t, s, id, "after an Update of an expired tombstone")
}

// A Move run again after its reply was lost finds its own tombstone: it
// succeeds and changes nothing. A Move naming another destination is still
// refused.
func testMoveResend(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, newUser(), vals("a", "1"))
	m := store.Moved{To: newID(), Sealed: sealed()}
	grace := e.now().Add(30 * time.Minute)
	if err := s.Move(e.ctx(t), id, m, grace, before.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	tomb := cloneRecord(mustLoad(t, s, id))
	for i := range 2 {
		again := store.Moved{To: m.To, Sealed: sealed()}
		if err := s.Move(e.ctx(t), id, again, grace, before.Version); err != nil {
			t.Errorf("Move resent (%d) on its own tombstone: %v, want nil", i+1, err)
		}
		wantSameRecord(t, "tombstone after a resent Move", mustLoad(t, s, id), tomb)
	}
	other := store.Moved{To: newID(), Sealed: sealed()}
	wantMoved(t, "Move to another ID on the tombstone", s.Move(e.ctx(t), id, other, grace, before.Version), m)
	wantSameRecord(t, "tombstone after a refused Move", mustLoad(t, s, id), tomb)
}

// A tombstone with no sealed token (the session ended at this ID: a login's
// rotation) is kept like any other: loadable until it expires, with To set,
// nothing sealed, no values, and a resent Move recognises it.
func testEndedTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	before := e.create(t, s, id, user, vals("a", "1"))
	m := store.Moved{To: newID()}
	grace := e.now().Add(30*time.Second + 123456)
	if err := s.Move(e.ctx(t), id, m, grace, before.Version); err != nil {
		t.Fatalf("Move with no sealed token: %v", err)
	}
	rec := mustLoad(t, s, id)
	switch {
	case rec.Moved == nil:
		t.Fatal("Load after a Move with no sealed token: Moved is nil, want a tombstone")
	case rec.Moved.To != m.To:
		t.Errorf("Moved.To = %q, want %q", rec.Moved.To, m.To)
	case len(rec.Moved.Sealed) != 0 || rec.Moved.Forwards():
		t.Errorf("Moved.Sealed = %x, want empty: this tombstone must forward nothing", rec.Moved.Sealed)
	}
	if rec.Values.Len() != 0 || rec.UserID != "" {
		t.Errorf("tombstone keeps %d values and user %q, want none", rec.Values.Len(), rec.UserID)
	}
	wantTime(t, "tombstone Expires", rec.Expires, grace)
	if rec.Version <= before.Version {
		t.Errorf("tombstone version %d, want more than the record's %d", rec.Version, before.Version)
	}
	wantUserSessions(t, e, s, user)
	tomb := cloneRecord(rec)
	if err := s.Move(e.ctx(t), id, store.Moved{To: m.To}, grace, before.Version); err != nil {
		t.Errorf("Move resent on its own tombstone with no sealed token: %v, want nil", err)
	}
	wantSameRecord(t, "tombstone after a resent Move", mustLoad(t, s, id), tomb)
}

// Writes that land on a tombstone with no sealed token are refused with a
// *store.MovedError naming its To and nothing sealed, as on any tombstone.
func testWritesOnEndedTombstone(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, newUser(), vals("a", "1"))
	m := store.Moved{To: newID(), Sealed: []byte{}}
	if err := s.Move(e.ctx(t), id, m, e.now().Add(time.Hour), before.Version); err != nil {
		t.Fatalf("Move with an empty sealed token: %v", err)
	}
	tomb := cloneRecord(mustLoad(t, s, id))

	c := e.change(store.Update)
	c.Set = vals("a", "x")
	_, err := s.Commit(e.ctx(t), id, c)
	wantMoved(t, "Update on a tombstone with no sealed token", err, m)
	now := e.now()
	wantMoved(t, "Touch on a tombstone with no sealed token", s.Touch(e.ctx(t), id, now, now.Add(24*time.Hour)), m)
	_, err = s.Commit(e.ctx(t), id, e.change(store.Create))
	wantErr(t, "Create on a tombstone with no sealed token", err, store.ErrExists)
	wantSameRecord(t, "tombstone with no sealed token after refused writes", mustLoad(t, s, id), tomb)
}
