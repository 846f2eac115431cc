package storetest

import (
	"maps"
	"strings"
	"testing"

	"github.com/tether-go/tether/store"
)

// Attributes ([store.Record.Attrs]) are what a "your devices" page shows: they
// must come back from UserSessions, survive every write that does not replace
// them, and be replaced whole by one that does.
var attrTests = []test{
	{"CreateListsAttrs", testCreateListsAttrs},
	{"UpdateKeepsAttrs", testUpdateKeepsAttrs},
	{"ReplaceAttrs", testReplaceAttrs},
	{"ClearAttrs", testClearAttrs},
	{"AttrsOnlyChange", testAttrsOnlyChange},
	{"HostileAttrs", testHostileAttrs},
	{"TombstoneHasNoAttrs", testTombstoneHasNoAttrs},
	{"AttrsCountInLimit", testAttrsCountInLimit},
}

// createWithAttrs creates a record of a new user with one value and attrs.
func (e *env) createWithAttrs(t *testing.T, s store.Store, attrs map[string]string) (id, user string) {
	t.Helper()
	id, user = newID(), newUser()
	c := e.change(store.Create)
	c.Set, c.SetUserID, c.UserID = vals("k", "v"), true, user
	c.SetAttrs, c.Attrs = true, attrs
	commit(t, s, id, c)
	return id, user
}

// wantAttrs checks the record's attributes as Load and UserSessions see them.
func wantAttrs(t *testing.T, e *env, s store.Store, id, user string, want map[string]string, when string) {
	t.Helper()
	rec := mustLoad(t, s, id)
	if !sameAttrs(rec.Attrs, want) {
		t.Errorf("%s: Load returned attributes %q, want %q", when, rec.Attrs, want)
	}
	infos := wantUserSessions(t, e, s, user, id)
	if len(infos) == 1 && !sameAttrs(infos[0].Attrs, want) {
		t.Errorf("%s: UserSessions returned attributes %q, want %q", when, infos[0].Attrs, want)
	}
}

// sameAttrs compares attribute sets, nil and empty being the same.
func sameAttrs(got, want map[string]string) bool {
	return len(got) == len(want) && maps.Equal(got, want)
}

func deviceAttrs() map[string]string {
	return map[string]string{"device": "Alice's laptop", "ua": "Mozilla/5.0 (X11; Linux x86_64)", "ip": "2001:db8::1"}
}

func testCreateListsAttrs(t *testing.T, e *env) {
	s := e.store(t)
	attrs := deviceAttrs()
	id, user := e.createWithAttrs(t, s, attrs)
	attrs["device"] = "changed by the caller after Commit"
	wantAttrs(t, e, s, id, user, deviceAttrs(), "after Create")

	// A record created without attributes has none.
	other := newID()
	e.create(t, s, other, user, vals("k", "v"))
	if rec := mustLoad(t, s, other); len(rec.Attrs) != 0 {
		t.Errorf("a record created without attributes loads with %q", rec.Attrs)
	}
}

func testUpdateKeepsAttrs(t *testing.T, e *env) {
	s := e.store(t)
	id, user := e.createWithAttrs(t, s, deviceAttrs())

	e.update(t, s, id, vals("k", "v2", "k2", "x"))
	wantAttrs(t, e, s, id, user, deviceAttrs(), "after an Update of values")

	c := e.change(store.Update)
	c.Clear, c.Set = true, vals("only", "1")
	commit(t, s, id, c)
	wantAttrs(t, e, s, id, user, deviceAttrs(), "after an Update that clears the values")

	c = e.change(store.Update)
	other := newUser()
	c.SetUserID, c.UserID = true, other
	commit(t, s, id, c)
	wantAttrs(t, e, s, id, other, deviceAttrs(), "after an Update that moves the record to another user")

	now := e.now()
	if err := s.Touch(e.ctx(t), id, now, e.change(store.Update).Expires); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	wantAttrs(t, e, s, id, other, deviceAttrs(), "after a Touch")
}

func testReplaceAttrs(t *testing.T, e *env) {
	s := e.store(t)
	id, user := e.createWithAttrs(t, s, deviceAttrs())
	before := mustLoad(t, s, id)

	c := e.change(store.Update)
	c.SetAttrs, c.Attrs = true, map[string]string{"device": "Work phone", "label": "new"}
	res := commit(t, s, id, c)
	if res.Version <= before.Version {
		t.Errorf("replacing the attributes returned version %d, want above %d", res.Version, before.Version)
	}
	wantAttrs(t, e, s, id, user, map[string]string{"device": "Work phone", "label": "new"}, "after replacing the attributes")
	wantValues(t, mustLoad(t, s, id), vals("k", "v"))
}

func testClearAttrs(t *testing.T, e *env) {
	s := e.store(t)
	for _, empty := range []map[string]string{nil, {}} {
		id, user := e.createWithAttrs(t, s, deviceAttrs())
		c := e.change(store.Update)
		c.SetAttrs, c.Attrs = true, empty
		commit(t, s, id, c)
		wantAttrs(t, e, s, id, user, nil, "after SetAttrs with no attributes")
		wantValues(t, mustLoad(t, s, id), vals("k", "v"))
	}
}

// testAttrsOnlyChange: a change that replaces only the attributes is not an
// empty change.
func testAttrsOnlyChange(t *testing.T, e *env) {
	s := e.store(t)
	id, user := e.createWithAttrs(t, s, nil)
	c := store.Change{Mode: store.Update, SetAttrs: true, Attrs: map[string]string{"device": "tablet"}}
	if c.Empty() {
		t.Fatal("Change.Empty reports a change of attributes as empty")
	}
	commit(t, s, id, c)
	wantAttrs(t, e, s, id, user, map[string]string{"device": "tablet"}, "after a change of attributes only")
}

// testHostileAttrs: keys and values that are operators, paths or quoting in
// some backend's query language are kept as they are.
func testHostileAttrs(t *testing.T, e *env) {
	s := e.store(t)
	attrs := map[string]string{
		"$where":                "function() { return true }",
		"a.b":                   "dotted",
		"":                      "empty key",
		"empty":                 "",
		`"quoted'`:              `'); DROP TABLE sessions; --`,
		"ключ":                  "значение ✓",
		"%s%n":                  "\\x00",
		strings.Repeat("k", 64): strings.Repeat("v", 256),
		"json":                  `{"a":[1,2]}`,
	}
	id, user := e.createWithAttrs(t, s, attrs)
	wantAttrs(t, e, s, id, user, attrs, "hostile attributes")
}

func testTombstoneHasNoAttrs(t *testing.T, e *env) {
	s := e.store(t)
	id, user := e.createWithAttrs(t, s, deviceAttrs())
	rec := mustLoad(t, s, id)
	to := newID()
	if err := s.Move(e.ctx(t), id, store.Moved{To: to}, e.change(store.Update).Expires, rec.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	if got := mustLoad(t, s, id); len(got.Attrs) != 0 {
		t.Errorf("a tombstone loads with attributes %q", got.Attrs)
	}
	wantUserSessions(t, e, s, user)
}

// testAttrsCountInLimit: attributes count in Record.Size, so a record whose
// values fit cannot exceed the limit through them.
func testAttrsCountInLimit(t *testing.T, e *env) {
	s := e.store(t)
	n := e.cfg.maxRecord
	id, user := newID(), newUser()
	values := atLimit(t, n-100, len(user), 0)

	c := e.change(store.Create)
	c.Set, c.SetUserID, c.UserID = values, true, user
	c.SetAttrs, c.Attrs = true, map[string]string{"device": strings.Repeat("x", 200)}
	_, err := s.Commit(e.ctx(t), id, c)
	wantTooLarge(t, e, "Create whose values fit but whose attributes do not", err)
	wantMissing(t, s, id, "after a refused Create")

	c.Attrs = map[string]string{"device": strings.Repeat("x", 100-len("device"))}
	commit(t, s, id, c)
	before := cloneRecord(mustLoad(t, s, id))
	u := store.Change{Mode: store.Update, SetAttrs: true, Attrs: map[string]string{"device": strings.Repeat("x", 101-len("device"))}}
	_, err = s.Commit(e.ctx(t), id, u)
	wantTooLarge(t, e, "Update making the attributes one byte longer", err)
	wantSameRecord(t, "record at the limit after a refused change of attributes", mustLoad(t, s, id), before)
}
