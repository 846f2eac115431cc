package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tether-go/tether/store"
)

var hostileTests = []test{
	{"Keys", testHostileKeys},
	{"MetadataLikeKeys", testMetadataLikeKeys},
	{"ManyKeys", testManyKeys},
	{"LargeValue", testLargeValue},
	{"TooLargeValue", testTooLargeValue},
	{"RecordAtLimit", testRecordAtLimit},
	{"RecordOverLimit", testRecordOverLimit},
}

// hostileKeys are keys a store that builds strings, queries or patterns from
// them could confuse; every one is a valid key (non-empty UTF-8, no NUL, at
// most MaxKeyLen bytes).
func hostileKeys() []string {
	return []string{
		"a", "a:b", "a:b:c", "a:", ":a", "{slot}", "{a}:b", "}{", "%s", "%d%n", "%",
		"' OR 1=1 --", `"quoted"`, "'single'", "a b", " lead", "trail ", "tab\tkey", "new\nline",
		"ключ", "日本", "😀", "\\", `a\"b`, "k.with.dots", "$dollar", "${var}", "*", "a*", "?", "[ab]",
		"/", "a/b", "#", "&amp;", "<tag>", "=", "a=b", ";", ",", "0", "-1", "null", "true",
		strings.Repeat("k", store.MaxKeyLen),
		strings.Repeat("é", store.MaxKeyLen/2),
	}
}

func testHostileKeys(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	keys := hostileKeys()
	want := make(map[string][]byte, len(keys))
	for i, k := range keys {
		want[k] = []byte(fmt.Sprintf("value %d of %q", i, k))
	}
	e.create(t, s, id, "", want)
	wantValues(t, mustLoad(t, s, id), want)

	// Deleting or setting one key touches that key only.
	c := e.change(store.Update)
	c.Delete = []string{"a:b", "{slot}", "*"}
	c.Set = map[string][]byte{"a": []byte("changed"), "%s": []byte("changed too")}
	commit(t, s, id, c)
	delete(want, "a:b")
	delete(want, "{slot}")
	delete(want, "*")
	want["a"], want["%s"] = []byte("changed"), []byte("changed too")
	wantValues(t, mustLoad(t, s, id), want)
}

// Keys named like the fields a store may keep next to the values (in one Redis
// hash, one JSON document) must not reach the record's metadata.
func testMetadataLikeKeys(t *testing.T, e *env) {
	s := e.store(t)
	id, user := newID(), newUser()
	values := map[string][]byte{}
	for _, k := range []string{
		"v", "version", "Version", "ver", "expires", "Expires", "exp", "ttl", "created", "Created",
		"last_seen", "lastSeen", "LastSeen", "user", "uid", "user_id", "UserID", "userID",
		"moved", "Moved", "to", "To", "sealed", "Sealed", "values", "Values", "data", "meta",
		"_meta", "__meta__", "__proto__", "constructor", "id", "ID", "_id", "cas", "flags",
	} {
		values[k] = []byte("0")
	}
	before := e.create(t, s, id, user, values)
	wantValues(t, before, values)
	if before.UserID != user || before.Version != 1 || before.Moved != nil {
		t.Errorf("metadata-like keys changed the record: user %q version %d moved %v", before.UserID, before.Version, before.Moved)
	}
	res := e.update(t, s, id, map[string][]byte{"version": []byte("999"), "expires": []byte("0")})
	values["version"], values["expires"] = []byte("999"), []byte("0")
	rec := mustLoad(t, s, id)
	wantValues(t, rec, values)
	if rec.Version != res.Version || rec.Version <= 1 || res.Before() != 1 {
		t.Errorf("Version = %d (commit said %d, applied to %d), want the commit's, applied to 1", rec.Version, res.Version, res.Before())
	}
	wantUserSessions(t, e, s, user, id)
}

func testManyKeys(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	want := make(map[string][]byte, 1000)
	for i := range 1000 {
		want[fmt.Sprintf("key-%04d", i)] = []byte(fmt.Sprint(i))
	}
	e.create(t, s, id, "", want)
	wantValues(t, mustLoad(t, s, id), want)
}

// randomBytes returns n incompressible bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

// A value of the backend's declared maximum round-trips, by Create and by
// Update.
func testLargeValue(t *testing.T, e *env) {
	s := e.store(t)
	big := randomBytes(e.cfg.maxValueSize)
	id := newID()
	e.create(t, s, id, "", map[string][]byte{"big": big})
	wantValues(t, mustLoad(t, s, id), map[string][]byte{"big": big})

	id2 := newID()
	e.create(t, s, id2, "", vals("small", "1"))
	e.update(t, s, id2, map[string][]byte{"big": big})
	wantValues(t, mustLoad(t, s, id2), map[string][]byte{"small": []byte("1"), "big": big})
}

// A value far over the maximum is stored intact or refused with ErrTooLarge,
// never truncated, and a refused write leaves the record as it was.
func testTooLargeValue(t *testing.T, e *env) {
	s := e.store(t)
	huge := randomBytes(4 * e.cfg.maxValueSize)

	id := newID()
	c := e.change(store.Create)
	c.Set = map[string][]byte{"huge": huge}
	_, err := s.Commit(e.ctx(t), id, c)
	switch {
	case err == nil:
		wantValues(t, mustLoad(t, s, id), c.Set)
	case isTooLarge(t, "Create with a huge value", err):
		wantMissing(t, s, id, "after a refused Create")
	}

	id2 := newID()
	e.create(t, s, id2, "", vals("kept", "1"))
	before := cloneRecord(mustLoad(t, s, id2))
	u := e.change(store.Update)
	u.Set, u.Clear = map[string][]byte{"huge": huge}, true
	_, err = s.Commit(e.ctx(t), id2, u)
	switch {
	case err == nil:
		wantValues(t, mustLoad(t, s, id2), u.Set)
	case isTooLarge(t, "Update with a huge value", err):
		wantSameRecord(t, "record after a refused Update", mustLoad(t, s, id2), before)
	}
}

func isTooLarge(t *testing.T, op string, err error) bool {
	t.Helper()
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("%s: error %v, want success or an error matching store.ErrTooLarge", op, err)
		return false
	}
	return true
}
