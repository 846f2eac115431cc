package storetest

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var commitTests = []test{
	{"SetAddsAndReplaces", testSetAddsAndReplaces},
	{"WritesTwice", testWritesTwice},
	{"DeleteRemovesListed", testDeleteRemovesListed},
	{"ClearThenSet", testClearThenSet},
	{"ClearOnly", testClearOnly},
	{"DeleteAndSetSameKey", testDeleteAndSetSameKey},
	{"EmptyChange", testEmptyChange},
	{"ZeroTimesKeepStored", testZeroTimesKeepStored},
	{"BeforeAfterOtherWrite", testBeforeAfterOtherWrite},
	{"BinaryValues", testBinaryValues},
	{"EmptyValueIsNotMissing", testEmptyValueIsNotMissing},
	{"VersionIncreases", testVersionIncreases},
	{"DoesNotRetainChange", testDoesNotRetainChange},
	{"RecordsAreSnapshots", testRecordsAreSnapshots},
}

func testSetAddsAndReplaces(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1", "b", "2"))
	e.update(t, s, id, vals("b", "20", "c", "3"))
	wantValues(t, mustLoad(t, s, id), vals("a", "1", "b", "20", "c", "3"))
}

func testDeleteRemovesListed(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1", "b", "2", "c", "3"))
	c := e.change(store.Update)
	c.Delete = []string{"a", "never-set"}
	commit(t, s, id, c)
	wantValues(t, mustLoad(t, s, id), vals("b", "2", "c", "3"))
}

// Clear applies first, then Delete, then Set.
func testClearThenSet(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1", "b", "2"))
	c := e.change(store.Update)
	c.Clear = true
	c.Delete = []string{"c"}
	c.Set = vals("b", "new", "c", "3")
	commit(t, s, id, c)
	wantValues(t, mustLoad(t, s, id), vals("b", "new", "c", "3"))
}

// Clearing every value leaves an existing, empty record.
func testClearOnly(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	before := e.create(t, s, id, user, vals("a", "1", "b", "2"))
	c := e.change(store.Update)
	c.Clear = true
	res := commit(t, s, id, c)
	rec := mustLoad(t, s, id)
	wantValues(t, rec, nil)
	if rec.Version != res.Version || rec.Version <= before.Version {
		t.Errorf("Version = %d (commit said %d), want %d = more than %d", rec.Version, res.Version, res.Version, before.Version)
	}
	if rec.UserID != user {
		t.Errorf("UserID = %q, want %q: Clear removes values only", rec.UserID, user)
	}
	// And an empty record takes values again.
	e.update(t, s, id, vals("c", "3"))
	wantValues(t, mustLoad(t, s, id), vals("c", "3"))
}

// A key in both Delete and Set ends up set, whether or not it existed.
func testDeleteAndSetSameKey(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1", "keep", "k"))
	c := e.change(store.Update)
	c.Delete = []string{"a", "b"}
	c.Set = vals("a", "2", "b", "3")
	commit(t, s, id, c)
	wantValues(t, mustLoad(t, s, id), vals("a", "2", "b", "3", "keep", "k"))
}

// A change with no value changes still replaces the times and is a write.
func testEmptyChange(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, "", vals("a", "1"))
	c := e.change(store.Update)
	c.LastSeen = before.LastSeen.Add(time.Minute)
	c.Expires = before.Expires.Add(time.Hour)
	if !c.Empty() {
		t.Fatal("suite bug: change is not empty")
	}
	res := commit(t, s, id, c)
	rec := mustLoad(t, s, id)
	wantValues(t, rec, vals("a", "1"))
	wantTime(t, "LastSeen", rec.LastSeen, c.LastSeen)
	wantTime(t, "Expires", rec.Expires, c.Expires)
	if res.Version <= before.Version || rec.Version != res.Version {
		t.Errorf("Version = %d, commit returned %d; want equal and more than %d", rec.Version, res.Version, before.Version)
	}
}

func binaryValues() map[string][]byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	return map[string][]byte{
		"nul":            {0},
		"nuls":           {0, 0, 0, 'x', 0},
		"invalid-utf":    {0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1},
		"all-bytes":      all,
		"newlines":       []byte("a\r\nb\nc\r"),
		"looks-like-nil": []byte("nil"),
		"number":         []byte("12345"),
		"empty":          {},
	}
}

func testBinaryValues(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	values := binaryValues()
	e.create(t, s, id, "", values)
	wantValues(t, mustLoad(t, s, id), values)

	// The same values through an update of an existing record.
	id2 := newID()
	e.create(t, s, id2, "", vals("x", "y"))
	e.update(t, s, id2, values)
	values["x"] = []byte("y")
	wantValues(t, mustLoad(t, s, id2), values)
}

// An empty value is stored as such, distinct from a missing key, including
// when it replaces a non-empty value.
func testEmptyValueIsNotMissing(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", map[string][]byte{"empty": {}, "full": []byte("x")})
	rec := mustLoad(t, s, id)
	if v, ok := rec.Values.Lookup("empty"); !ok || len(v) != 0 {
		t.Errorf("empty value came back as %q (present %v), want present and empty", v, ok)
	}
	e.update(t, s, id, map[string][]byte{"full": {}})
	rec = mustLoad(t, s, id)
	if v, ok := rec.Values.Lookup("full"); !ok || len(v) != 0 {
		t.Errorf("value emptied by an update came back as %q (present %v), want present and empty", v, ok)
	}
	if rec.Values.Len() != 2 {
		t.Errorf("%d values, want 2", rec.Values.Len())
	}
}

// Every Commit and Touch increases the version, and Commit reports the version
// Load then sees.
func testVersionIncreases(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	rec := e.create(t, s, id, "", vals("a", "1"))
	if rec.Version != 1 {
		t.Fatalf("created record has version %d, want 1", rec.Version)
	}
	last := rec.Version
	for i := range 6 {
		var op string
		var want uint64
		if i%2 == 0 {
			op = "Commit"
			want = e.update(t, s, id, vals("a", string(rune('b'+i)))).Version
		} else {
			op = "Touch"
			now := e.now()
			if err := s.Touch(e.ctx(t), id, now, now.Add(time.Hour)); err != nil {
				t.Fatalf("Touch: %v", err)
			}
		}
		got := mustLoad(t, s, id).Version
		if got <= last {
			t.Errorf("version after %s = %d, want more than %d", op, got, last)
		}
		if op == "Commit" && got != want {
			t.Errorf("Commit returned version %d, Load reports %d", want, got)
		}
		last = got
	}
}

// "Commit must not retain c or anything it refers to": changing the Change's
// map and slices afterwards must not reach the stored record.
func testDoesNotRetainChange(t *testing.T, e *env) {
	s := e.store(t)
	for _, mode := range []store.Mode{store.Create, store.Update} {
		id := newID()
		if mode == store.Update {
			e.create(t, s, id, "", vals("gone", "x", "kept", "y"))
		}
		c := e.change(mode)
		buf := []byte("original")
		c.Set = map[string][]byte{"k": buf}
		c.Delete = []string{"gone"}
		commit(t, s, id, c)

		copy(buf, "MUTATED!")
		c.Set["k2"] = []byte("added later")
		c.Delete[0] = "kept"

		want := vals("k", "original")
		if mode == store.Update {
			want["kept"] = []byte("y")
		}
		rec := mustLoad(t, s, id)
		t.Run(mode.String(), func(t *testing.T) { wantValues(t, rec, want) })
	}
}

// A record returned by Load is a snapshot: later writes do not change it.
func testRecordsAreSnapshots(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	e.create(t, s, id, user, vals("a", "1", "b", "2"))
	r1 := mustLoad(t, s, id)
	want1 := cloneRecord(r1)

	c := e.change(store.Update)
	c.Set, c.Delete, c.SetUserID, c.UserID = vals("a", "changed", "c", "3"), []string{"b"}, true, newUser()
	commit(t, s, id, c)
	now := e.now()
	if err := s.Touch(e.ctx(t), id, now.Add(time.Second), now.Add(2*time.Hour)); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	r2 := mustLoad(t, s, id)
	wantValues(t, r2, vals("a", "changed", "c", "3"))
	wantSameRecord(t, "record loaded before a Commit, a Touch and another Load", r1, want1)

	want2 := cloneRecord(r2)
	if err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: []byte("s")}, now.Add(time.Minute), r2.Version); err != nil {
		t.Fatalf("Move: %v", err)
	}
	if tomb := mustLoad(t, s, id); tomb.Moved == nil {
		t.Fatal("record not moved")
	}
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantSameRecord(t, "record loaded before a Move, a Load and a Delete", r2, want2)
}

// An Update with zero LastSeen and Expires keeps the stored ones: a request
// that only sets values never loaded the record.
func testZeroTimesKeepStored(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	before := e.create(t, s, id, "", vals("a", "1"))
	c := store.Change{Mode: store.Update, Set: vals("b", "2")}
	res := commit(t, s, id, c)
	rec := mustLoad(t, s, id)
	wantValues(t, rec, vals("a", "1", "b", "2"))
	wantTime(t, "LastSeen", rec.LastSeen, before.LastSeen)
	wantTime(t, "Expires", rec.Expires, before.Expires)
	wantTime(t, "Created", rec.Created, before.Created)
	if rec.Version != res.Version || rec.Version <= before.Version {
		t.Errorf("Version = %d, commit returned %d; want equal and more than %d", rec.Version, res.Version, before.Version)
	}
	// Nothing wrote in between: the commit applied to the version the
	// caller had, which callers (the session, hybridstore's cache) take to
	// mean that what they hold plus the change is what is stored.
	if b := res.Before(); b != before.Version {
		t.Errorf("Result.Before() = %d (Prior %d), want %d, the version the commit applied to", b, res.Prior, before.Version)
	}
}

// A commit that another write preceded applied to that write's version, not
// to the one its caller loaded: callers (the session, hybridstore's cache)
// take Result.Before equal to what they hold to mean that nothing wrote in
// between, so that what they hold plus their change is what is stored.
func testBeforeAfterOtherWrite(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	e.create(t, s, id, "", vals("a", "1"))
	loaded := mustLoad(t, s, id)
	other := e.update(t, s, id, vals("b", "2"))
	res := e.update(t, s, id, vals("c", "3"))
	if b := res.Before(); b != other.Version || b == loaded.Version {
		t.Errorf("Result.Before() = %d (Prior %d) after another write to %d; want %d, not the loaded %d",
			b, res.Prior, other.Version, other.Version, loaded.Version)
	}
}
