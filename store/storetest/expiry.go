package storetest

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// Without an injected clock, expiry is tested with real waits. A record may
// disappear up to earlyTolerance before its expiry (clock skew between the
// test and a server) and must be gone lateTolerance after it (Memcached keeps
// whole seconds, rounded up).
const (
	realTTL        = 1200 * time.Millisecond
	earlyTolerance = 250 * time.Millisecond
	lateTolerance  = 1100 * time.Millisecond
	pollInterval   = 20 * time.Millisecond
)

var expiryTests = []test{
	{"ExpiredAtCreate", testExpiredAtCreate},
	{"ExpiredByUpdate", testExpiredByUpdate},
	{"ExpiresAtDeadline", testExpiresAtDeadline},
	{"TouchExtends", testTouchExtends},
	{"CommitExtends", testCommitExtends},
	{"ZeroTimesKeepExpiry", testZeroTimesKeepExpiry},
	{"TouchToPast", testTouchToPast},
	{"WritesAfterExpiry", testWritesAfterExpiry},
	{"CreateOverExpired", testCreateOverExpired},
}

// ttl is the lifetime of records the expiry tests watch expire.
func (e *env) ttl() time.Duration {
	if e.fake() {
		return 10 * time.Minute
	}
	return realTTL
}

// wantExpires checks that the record under id, expiring at expires, is still
// there shortly before and gone after, advancing the clock or waiting.
func (e *env) wantExpires(t *testing.T, s store.Store, id string, expires time.Time) {
	t.Helper()
	if e.fake() {
		if d := expires.Sub(e.now()) - time.Second; d > 0 {
			e.cfg.advance(d)
			if load(t, s, id) == nil {
				t.Fatalf("record gone a second before its expiry")
			}
		}
		e.cfg.advance(expires.Sub(e.now()) + time.Second)
		wantMissing(t, s, id, "a second after its expiry")
		return
	}
	for {
		t0 := time.Now()
		rec := load(t, s, id)
		if rec == nil {
			// The store judged somewhere within the call: only if the
			// call ended before the expiry was the record surely gone
			// early (a slow call on a loaded machine is not).
			if early := expires.Sub(time.Now()); early > earlyTolerance {
				t.Errorf("record gone %v before its expiry", early)
			}
			return
		}
		if late := t0.Sub(expires); late > lateTolerance {
			t.Fatalf("record still loadable %v after its expiry", late)
		}
		time.Sleep(pollInterval)
	}
}

// waitPast advances the clock, or waits, until a record that expired at
// deadline must be gone.
func (e *env) waitPast(deadline time.Time) {
	if e.fake() {
		if d := deadline.Sub(e.now()) + time.Second; d > 0 {
			e.cfg.advance(d)
		}
		return
	}
	time.Sleep(time.Until(deadline.Add(lateTolerance)))
}

// expire creates a record under id for user that expires naturally, and waits
// until it has.
func (e *env) expire(t *testing.T, s store.Store, id, user string, values map[string][]byte) {
	t.Helper()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(e.ttl())
	c.Set, c.SetUserID, c.UserID = values, true, user
	commit(t, s, id, c)
	e.wantExpires(t, s, id, c.Expires)
}

// A record whose expiry has passed when it is written is not loadable.
func testExpiredAtCreate(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(-time.Second)
	c.Set, c.UserID = vals("a", "1"), user
	if _, err := s.Commit(e.ctx(t), id, c); err != nil {
		t.Fatalf("Create with a past expiry: %v", err)
	}
	wantMissing(t, s, id, "created already expired")
	wantUserSessions(t, e, s, user)
}

func testExpiredByUpdate(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	e.create(t, s, id, user, vals("a", "1"))
	c := e.change(store.Update)
	c.Expires = c.LastSeen.Add(-time.Second)
	commit(t, s, id, c)
	wantMissing(t, s, id, "updated with a past expiry")
	wantUserSessions(t, e, s, user)
}

func testExpiresAtDeadline(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(e.ttl())
	c.Set = vals("a", "1")
	commit(t, s, id, c)
	mustLoad(t, s, id)
	e.wantExpires(t, s, id, c.Expires)
}

// A touched record outlives its original expiry, and expires at the new one.
func testTouchExtends(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(e.ttl() / 2)
	c.Set = vals("a", "1")
	commit(t, s, id, c)

	extended := e.now().Add(time.Hour)
	if err := s.Touch(e.ctx(t), id, e.now(), extended); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	e.waitPast(c.Expires)
	rec := load(t, s, id)
	if rec == nil {
		t.Fatal("touched record gone at its original expiry")
	}
	wantValues(t, rec, vals("a", "1"))
	if e.fake() {
		e.wantExpires(t, s, id, extended)
	}
}

func testCommitExtends(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(e.ttl() / 2)
	commit(t, s, id, c)

	u := e.change(store.Update)
	u.Set = vals("b", "2")
	commit(t, s, id, u)
	e.waitPast(c.Expires)
	rec := load(t, s, id)
	if rec == nil {
		t.Fatal("updated record gone at its original expiry")
	}
	wantValues(t, rec, vals("b", "2"))
	if e.fake() {
		e.wantExpires(t, s, id, u.Expires)
	}
}

// An Update that keeps the stored times (both zero) does not extend the
// record: it still expires at its deadline.
func testZeroTimesKeepExpiry(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	c := e.change(store.Create)
	c.Expires = c.LastSeen.Add(e.ttl())
	commit(t, s, id, c)
	commit(t, s, id, store.Change{Mode: store.Update, Set: vals("a", "1")})
	wantValues(t, mustLoad(t, s, id), vals("a", "1"))
	e.wantExpires(t, s, id, c.Expires)
}

func testTouchToPast(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1"))
	now := e.now()
	if err := s.Touch(e.ctx(t), id, now, now.Add(-time.Second)); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	wantMissing(t, s, id, "touched with a past expiry")
	wantErr(t, "second Touch", s.Touch(e.ctx(t), id, now, now.Add(time.Hour)), store.ErrNotFound)
	wantMissing(t, s, id, "after a Touch of an expired record")
}

// No resurrection: an expired record takes no writes.
func testWritesAfterExpiry(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	e.expire(t, s, id, user, vals("a", "1"))

	c := e.change(store.Update)
	c.Set = vals("b", "2")
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Update after expiry", err, store.ErrNotFound)
	now := e.now()
	wantErr(t, "Touch after expiry", s.Touch(e.ctx(t), id, now, now.Add(time.Hour)), store.ErrNotFound)
	wantErr(t, "Move after expiry", s.Move(e.ctx(t), id, store.Moved{To: newID()}, now.Add(time.Hour), 1), store.ErrNotFound)
	wantMissing(t, s, id, "after writes to an expired record")
	wantUserSessions(t, e, s, user)
}

// An expired record's ID may be created afresh; nothing of the old record
// shows through.
func testCreateOverExpired(t *testing.T, e *env) {
	s := e.store(t)
	id, oldUser, newUserID := newID(), newUser(), newUser()
	e.expire(t, s, id, oldUser, vals("old", "1", "shared", "old"))

	rec := e.create(t, s, id, newUserID, vals("shared", "new"))
	wantValues(t, rec, vals("shared", "new"))
	if rec.Version != 1 || rec.UserID != newUserID {
		t.Errorf("record created over an expired one: version %d, user %q; want 1, %q", rec.Version, rec.UserID, newUserID)
	}
	wantUserSessions(t, e, s, oldUser)
	wantUserSessions(t, e, s, newUserID, id)
}
