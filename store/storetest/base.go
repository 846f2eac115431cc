package storetest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// baseTests: a Change's Base (the record as the caller loaded it) is a hint
// a store may use or ignore; a Base that is not what is stored (stale, of
// another ID, of another kind) must change nothing about the commit's
// outcome. Each test builds two records the same way, commits the same
// change to both, one with the Base and one without, and compares what
// each commit returned and left.
var baseTests = []test{
	{"Fresh", func(t *testing.T, e *env) { testBase(t, e, baseFresh) }},
	{"FreshClearAttrsTimes", func(t *testing.T, e *env) { testBase(t, e, baseFreshAll) }},
	{"Stale", func(t *testing.T, e *env) { testBase(t, e, baseStale) }},
	{"StaleAfterTouch", func(t *testing.T, e *env) { testBase(t, e, baseAfterTouch) }},
	{"StaleAfterClear", func(t *testing.T, e *env) { testBase(t, e, baseAfterClear) }},
	{"StaleAfterAttrs", func(t *testing.T, e *env) { testBase(t, e, baseAfterAttrs) }},
	{"StaleAfterLogin", func(t *testing.T, e *env) { testBase(t, e, baseAfterLogin) }},
	{"OtherID", func(t *testing.T, e *env) { testBase(t, e, baseOtherID) }},
	{"Tombstone", func(t *testing.T, e *env) { testBase(t, e, baseTombstone) }},
	{"RecordMoved", func(t *testing.T, e *env) { testBase(t, e, baseMoved) }},
	{"RecordEnded", func(t *testing.T, e *env) { testBase(t, e, baseEnded) }},
	{"RecordDeleted", func(t *testing.T, e *env) { testBase(t, e, baseDeleted) }},
	{"LiveAtPastExpiry", func(t *testing.T, e *env) { testBase(t, e, baseLiveAt) }},
	{"TooLarge", func(t *testing.T, e *env) { testBase(t, e, baseTooLarge) }},
	{"SetsUser", func(t *testing.T, e *env) { testBase(t, e, baseSetsUser) }},
	{"Create", func(t *testing.T, e *env) { testBase(t, e, baseCreate) }},
}

// A baseCase prepares a record under id (the same way for both twins) and
// returns the Base to pass and the change to commit. other is a record the
// case may use, the same for both twins.
type baseCase func(t *testing.T, e *env, s store.Store, id, other string, at time.Time) (*store.Record, store.Change)

func testBase(t *testing.T, e *env, bc baseCase) {
	s := e.store(t)
	other := newID()
	e.create(t, s, other, "", vals("o", "other", "a", "9"))
	at := e.now()
	ids := [2]string{newID(), newID()}
	var errs [2]error
	var res [2]store.Result
	var onto [2]bool // the commit applied to the record as it was before it
	var recs [2]*store.Record
	for i, id := range ids {
		base, c := bc(t, e, s, id, other, at)
		if i == 0 {
			c.Base = base
		}
		pre := load(t, s, id)
		res[i], errs[i] = s.Commit(e.ctx(t), id, c)
		recs[i] = load(t, s, id)
		onto[i] = pre != nil && errs[i] == nil && res[i].Before() == pre.Version
		if errs[i] == nil && recs[i] != nil && recs[i].Version != res[i].Version {
			t.Errorf("twin %d: stored version %d, the commit said %d", i, recs[i].Version, res[i].Version)
		}
	}
	// Versions are compared by what they say (a store may step them by
	// random amounts: see store.Result.Prior), not by value.
	if !sameOutcome(errs[0], errs[1]) || onto[0] != onto[1] || (res[0].Version == 1) != (res[1].Version == 1) {
		t.Fatalf("with the Base: %v, %v; without: %v, %v", res[0], errs[0], res[1], errs[1])
	}
	if d := recordDiff(recs[0], recs[1]); d != "" {
		t.Errorf("the record the commit with the Base left differs from the one without: %s", d)
	}
}

// sameOutcome reports whether two commit errors are the same outcome.
func sameOutcome(a, b error) bool {
	if (a == nil) != (b == nil) {
		return false
	}
	for _, target := range []error{store.ErrNotFound, store.ErrExists, store.ErrTooLarge, store.ErrConflict} {
		if errors.Is(a, target) != errors.Is(b, target) {
			return false
		}
	}
	_, ma := store.IsMoved(a)
	_, mb := store.IsMoved(b)
	return ma == mb
}

// recordDiff describes how two records differ but for their IDs' own
// parts (a tombstone's forward, which names its own ID when it ends the
// session).
func recordDiff(a, b *store.Record) string {
	if a == nil || b == nil {
		if a != b {
			return fmt.Sprintf("%v and %v", a, b)
		}
		return ""
	}
	var d []string
	if !maps.EqualFunc(a.Values.Map(), b.Values.Map(), func(x, y []byte) bool { return string(x) == string(y) }) {
		d = append(d, fmt.Sprintf("values %q and %q", a.Values.Map(), b.Values.Map()))
	}
	if a.UserID != b.UserID {
		d = append(d, fmt.Sprintf("user %q and %q", a.UserID, b.UserID))
	}
	if !maps.Equal(a.Attrs, b.Attrs) && (len(a.Attrs) > 0 || len(b.Attrs) > 0) {
		d = append(d, fmt.Sprintf("attrs %v and %v", a.Attrs, b.Attrs))
	}
	if !a.Created.Equal(b.Created) || !a.LastSeen.Equal(b.LastSeen) || !a.Expires.Equal(b.Expires) {
		d = append(d, fmt.Sprintf("times %v/%v/%v and %v/%v/%v", a.Created, a.LastSeen, a.Expires, b.Created, b.LastSeen, b.Expires))
	}
	if (a.Moved == nil) != (b.Moved == nil) {
		d = append(d, fmt.Sprintf("moved %v and %v", a.Moved, b.Moved))
	}
	return strings.Join(d, "; ")
}

// twin creates the record under id the same way for both twins: its times
// are at's, whatever the clock reads while the twins are made.
func twin(t *testing.T, s store.Store, id string, at time.Time) *store.Record {
	t.Helper()
	c := store.Change{Mode: store.Create, Created: at.Add(-time.Minute), LastSeen: at.Add(-234567891 * time.Nanosecond),
		Expires: at.Add(time.Hour + 456789123*time.Nanosecond)}
	c.Set, c.SetUserID = vals("a", "1", "b", "2", "n", "0"), true
	c.SetAttrs, c.Attrs = true, map[string]string{"device": "phone"}
	commit(t, s, id, c)
	return mustLoad(t, s, id)
}

// update is the change every case commits but where it says otherwise.
func baseUpdate() store.Change {
	return store.Change{Mode: store.Update, Set: vals("n", "1", "new", "x"), Delete: []string{"b"}}
}

// The Base is the stored record: what the store may use.
func baseFresh(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	return twin(t, s, id, at), baseUpdate()
}

func baseFreshAll(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	c := store.Change{Mode: store.Update, Clear: true, Set: vals("z", "1", "a", "2"), SetAttrs: true, Attrs: map[string]string{"ua": "x", "device": "pc"},
		LiveAt: at, LastSeen: at.Add(time.Second), Expires: at.Add(2 * time.Hour)}
	return base, c
}

func baseStale(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	c := store.Change{Mode: store.Update, Set: vals("a", "between", "w", "1")}
	commit(t, s, id, c)
	return base, baseUpdate()
}

func baseAfterTouch(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	if err := s.Touch(e.ctx(t), id, base.LastSeen, base.Expires); err != nil {
		t.Fatal(err)
	}
	return base, baseUpdate()
}

func baseAfterClear(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	commit(t, s, id, store.Change{Mode: store.Update, Clear: true, Set: vals("only", "1")})
	return base, baseUpdate()
}

func baseAfterAttrs(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	commit(t, s, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: map[string]string{"device": "tablet"}})
	return base, baseUpdate()
}

var baseUser = newUser()

func baseAfterLogin(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	commit(t, s, id, store.Change{Mode: store.Update, SetUserID: true, UserID: baseUser})
	return base, baseUpdate()
}

// The Base is another record's, at the version this one has.
func baseOtherID(t *testing.T, e *env, s store.Store, id, other string, at time.Time) (*store.Record, store.Change) {
	twin(t, s, id, at)
	return mustLoad(t, s, other), baseUpdate()
}

// The Base is a tombstone at the record's version.
func baseTombstone(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := *twin(t, s, id, at)
	base.Values, base.Moved = store.Values{}, &store.Moved{To: newID()}
	return &base, baseUpdate()
}

func baseMoved(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	if err := s.Move(e.ctx(t), id, store.Moved{To: newID(), Sealed: []byte("sealed")}, base.Expires, base.Version); err != nil {
		t.Fatal(err)
	}
	return base, baseUpdate()
}

func baseEnded(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	if err := s.Move(e.ctx(t), id, store.Moved{To: id}, base.Expires, 0); err != nil {
		t.Fatal(err)
	}
	return base, baseUpdate()
}

func baseDeleted(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	if err := s.Delete(e.ctx(t), id); err != nil {
		t.Fatal(err)
	}
	return base, baseUpdate()
}

func baseLiveAt(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	c := baseUpdate()
	c.LiveAt = base.Expires
	return base, c
}

func baseTooLarge(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	c := baseUpdate()
	// The change fits the limit; the record it makes does not.
	c.Set = map[string][]byte{"big": make([]byte, e.cfg.maxRecord-8)}
	return base, c
}

func baseSetsUser(t *testing.T, e *env, s store.Store, id, _ string, at time.Time) (*store.Record, store.Change) {
	base := twin(t, s, id, at)
	c := baseUpdate()
	c.SetUserID, c.UserID = true, baseUser
	return base, c
}

// A Base on a Create, of a fresh ID.
func baseCreate(t *testing.T, e *env, s store.Store, id, other string, at time.Time) (*store.Record, store.Change) {
	c := store.Change{Mode: store.Create, Created: at, LastSeen: at, Expires: at.Add(time.Hour), Set: vals("c", "1")}
	return mustLoad(t, s, other), c
}
