package mongostore

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// 100 requests of one session, each setting a key of its own, all at once
// (the suite runs 64): none is lost, none is told to retry more than the
// store's own loop allows, and the record's size and version account for
// every one.
var _ = backendTest("HundredDisjointWrites", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	s := newStore(t, cl)
	ctx := ctxT(t)
	id, _ := createRecord(t, s, time.Now())
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Go(func() {
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprintf("key-%03d", i): []byte(fmt.Sprint(i))}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil {
		t.Fatalf("Load: %v, %v", rec, err)
	}
	// Every write raised the version, by a random step of at least one.
	if rec.Values.Len() != 101 || rec.Version < 101 {
		t.Errorf("after 100 disjoint writes: %d values, version %d; want 101, 101 or more", rec.Values.Len(), rec.Version)
	}
	for i := range 100 {
		if v := rec.Values.Get(fmt.Sprintf("key-%03d", i)); string(v) != fmt.Sprint(i) {
			t.Errorf("key-%03d = %q", i, v)
		}
	}
	var doc record
	if err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: id}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Size != int64(rec.Size()) || doc.ValSize != int64(rec.Size()) {
		t.Errorf("stored sizes %d/%d, want the record's %d", doc.Size, doc.ValSize, rec.Size())
	}
})

// Keys that are operators, paths or empty in MongoDB's query language
// round-trip as values and attributes, stay distinct from their escaped
// spellings, and are stored as fields of the sub-documents only.
var _ = backendTest("HostileKeys", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	s := newStore(t, cl)
	ctx := ctxT(t)
	keys := []string{"$where", "a.b", "", "a", "a%2Eb", "%", "%25", "$", ".", "..", "$set", "v", "ver", "_id",
		"x\x00y", "\xff\xfe", "0", "-1", strings.Repeat("k", 256), strings.Repeat(".", 256), strings.Repeat("$", 256)}
	values := map[string][]byte{}
	attrs := map[string]string{}
	for i, k := range keys {
		values[k] = []byte(fmt.Sprintf("value %d", i))
		if k != "x\x00y" && k != "\xff\xfe" {
			attrs[k] = fmt.Sprintf("attr %d", i)
		}
	}
	now := time.Now()
	id := newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: values, UserID: "u", SetUserID: true, Attrs: attrs, SetAttrs: true}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil {
			t.Fatalf("%s: Load: %v, %v", when, rec, err)
		}
		if !maps.EqualFunc(rec.Values.Map(), values, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("%s: values %q, want %q", when, rec.Values, values)
		}
		infos, err := s.UserSessions(ctx, "u")
		if err != nil || len(infos) != 1 || !maps.Equal(infos[0].Attrs, attrs) {
			t.Errorf("%s: UserSessions: %+v, %v; want attributes %q", when, infos, err, attrs)
		}
	}
	check("after Create")
	// Each hostile key set and deleted by an Update touches that key only.
	for i, k := range keys {
		c := store.Change{Mode: store.Update, Set: map[string][]byte{k: []byte(fmt.Sprintf("new %d", i))}}
		if i%2 == 1 {
			c = store.Change{Mode: store.Update, Delete: []string{k}}
		}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatalf("Update of %q: %v", k, err)
		}
		values = c.Apply(store.ValuesOf(values)).Map()
	}
	check("after Updates")
	var raw bson.Raw
	if err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: id}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	elems, _ := raw.Elements()
	for _, el := range elems {
		switch el.Key() {
		case fID, fValues, fSizes, fUser, fAttrs, fCreated, fLastSeen, fExpires, fReapAt, fVersion, fSize, fValSize, fAttrSize:
		default:
			t.Errorf("top-level field %q: a key escaped its sub-document", el.Key())
		}
	}
})

// The escaping is injective and inverted by unescapeKey; field names it
// cannot produce are refused, not guessed.
func TestEscapeKey(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"", "%", "%25", "a.b", "a%2Eb", "$x", "%24x", "\x00", "%00", "\xff", "%FF", "é", "日本", "a$b", "ok"} {
		f := escapeKey(k)
		if f == "" || strings.ContainsAny(f, ".$\x00") || f[0] == '$' {
			t.Errorf("escapeKey(%q) = %q: not a safe field name", k, f)
		}
		if other, ok := seen[f]; ok {
			t.Errorf("escapeKey(%q) = escapeKey(%q) = %q", k, other, f)
		}
		seen[f] = k
		if back, err := unescapeKey(f); err != nil || back != k {
			t.Errorf("unescapeKey(%q) = %q, %v; want %q", f, back, err, k)
		}
	}
	for _, f := range []string{"", "a.b", "$x", "%2", "%zz", "%2e", "%41", "x%"} {
		if k, err := unescapeKey(f); err == nil {
			t.Errorf("unescapeKey(%q) = %q, want an error", f, k)
		}
	}
}

func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"", "%", "a.b", "$where", "\xff", "%2E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if back, err := unescapeKey(escapeKey(k)); err != nil || back != k {
			t.Fatalf("round trip of %q: %q, %v", k, back, err)
		}
		_, _ = unescapeKey(k) // hostile stored field names: an error, never a panic
	})
}

// FerretDB refuses the TTL index: New records it, and expired records stay
// in the collection until the reaper deletes them, one minute past their
// expiry. Until then no call sees them: not Load, Version, UserSessions,
// DeleteUser's count, an Update, a Touch or a Move.
var _ = backendTest("ExpiredNeverLoad", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, cl, WithClock(clock.Now), WithReapInterval(50*time.Millisecond))
	if s.TTLIndex() {
		t.Fatal("FerretDB accepted the TTL index; this test assumes it refuses it (NotImplemented)")
	}
	ctx := ctxT(t)
	now := clock.Now()
	id := newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Second),
		UserID: "bob", SetUserID: true, Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if n, err := s.coll.CountDocuments(ctx, bson.D{{Key: fID, Value: id}}); err != nil || n != 1 {
		t.Fatalf("expired document not in the collection (%d, %v): the test proves nothing", n, err)
	}
	if rec, err := s.Load(ctx, id); rec != nil || err != nil {
		t.Errorf("Load of an expired record: %+v, %v", rec, err)
	}
	if v, err := s.Version(ctx, id); v != 0 || err != nil {
		t.Errorf("Version of an expired record: %d, %v", v, err)
	}
	if infos, err := s.UserSessions(ctx, "bob"); len(infos) != 0 || err != nil {
		t.Errorf("UserSessions lists an expired record: %+v, %v", infos, err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("w")}}); err != store.ErrNotFound {
		t.Errorf("Update of an expired record: %v, want ErrNotFound", err)
	}
	if err := s.Touch(ctx, id, clock.Now(), clock.Now().Add(time.Hour)); err != store.ErrNotFound {
		t.Errorf("Touch of an expired record: %v, want ErrNotFound", err)
	}
	if err := s.Move(ctx, id, store.Moved{To: newID()}, clock.Now().Add(time.Hour), 0); err != store.ErrNotFound {
		t.Errorf("Move of an expired record: %v, want ErrNotFound", err)
	}
	// Within the grace the reaper leaves it; past it, the reaper takes it.
	time.Sleep(200 * time.Millisecond)
	if n, _ := s.coll.CountDocuments(ctx, bson.D{{Key: fID, Value: id}}); n != 1 {
		t.Error("the reaper deleted a record within its grace minute")
	}
	clock.Advance(reapGrace)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := s.coll.CountDocuments(ctx, bson.D{{Key: fID, Value: id}})
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reaper has not deleted the expired record: %d, %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
})

// DeleteUser ends a live record with one updateMany that cannot copy the
// document's _id into the tombstone's target: it stores endedTo, which every
// read resolves to the record's own ID. The document keeps its expiry and
// reap time and loses its user id, values and attributes; the user's expired
// records are deleted; a logout's Move (to the record's own ID) afterwards
// is a no-op, as on a logout's own tombstone, and any other Move, Update or
// Touch reports the ended session.
var _ = backendTest("DeleteUserStoredTombstone", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	clock := storetest.NewClock(time.Now())
	s := newStore(t, cl, WithClock(clock.Now))
	ctx := ctxT(t)
	now := clock.Now()
	create := func(id string, expires time.Time) {
		t.Helper()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: expires,
			UserID: "carol", SetUserID: true, Set: map[string][]byte{"k": []byte("v")},
			Attrs: map[string]string{"device": "phone"}, SetAttrs: true}); err != nil {
			t.Fatal(err)
		}
	}
	// expired ended past the reap grace and is deleted; recent ended within
	// it, so a node with a slower clock may still see it live: it is ended
	// (a tombstone), not counted.
	live, expired, recent := newID(), newID(), newID()
	create(live, now.Add(time.Hour))
	create(expired, now.Add(-reapGrace-time.Second))
	create(recent, now.Add(-time.Second))
	var before bson.M
	if err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: live}}).Decode(&before); err != nil {
		t.Fatal(err)
	}

	if n, err := s.DeleteUser(ctx, "carol"); n != 1 || err != nil {
		t.Fatalf("DeleteUser = %d, %v; want 1, nil", n, err)
	}
	var doc bson.M
	if err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: live}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc[fMovedTo] != endedTo {
		t.Errorf("stored target %v, want %q", doc[fMovedTo], endedTo)
	}
	for _, f := range []string{fUser, fValues, fSizes, fAttrs} {
		if _, ok := doc[f]; ok {
			t.Errorf("tombstone keeps field %q", f)
		}
	}
	for _, f := range []string{fExpires, fReapAt, fCreated, fLastSeen} {
		if fmt.Sprint(doc[f]) != fmt.Sprint(before[f]) {
			t.Errorf("field %q: %v, want the record's %v", f, doc[f], before[f])
		}
	}
	if n, err := s.coll.CountDocuments(ctx, bson.D{{Key: fID, Value: expired}}); n != 0 || err != nil {
		t.Errorf("expired record of the user left in the collection (%d, %v)", n, err)
	}
	if n, err := s.coll.CountDocuments(ctx, bson.D{{Key: fID, Value: recent}, {Key: fMovedTo, Value: endedTo}}); n != 1 || err != nil {
		t.Errorf("a record expired within the reap grace is not an ended tombstone (%d, %v)", n, err)
	}
	if v, err := s.Version(ctx, live); v != 2 || err != nil {
		t.Errorf("Version = %d, %v; want 2", v, err)
	}

	rec, err := s.Load(ctx, live)
	if err != nil || rec == nil || rec.Moved == nil || rec.Moved.To != live || rec.Moved.Forwards() {
		t.Fatalf("Load = %+v, %v; want a tombstone to its own ID that forwards nothing", rec, err)
	}
	if err := s.Move(ctx, live, store.Moved{To: live}, clock.Now().Add(time.Minute), 0); err != nil {
		t.Errorf("a logout's Move after DeleteUser: %v, want nil", err)
	}
	wantEndedErr := func(what string, err error) {
		t.Helper()
		if mv, ok := store.IsMoved(err); !ok || mv.Moved.To != live || mv.Moved.Forwards() {
			t.Errorf("%s after DeleteUser: %v; want a *store.MovedError to its own ID", what, err)
		}
	}
	wantEndedErr("a rotation's Move", s.Move(ctx, live, store.Moved{To: newID(), Sealed: []byte("x")}, clock.Now().Add(time.Minute), 0))
	_, err = s.Commit(ctx, live, store.Change{Mode: store.Update, Set: map[string][]byte{"late": []byte("write")}})
	wantEndedErr("an Update", err)
	s.cfg.inPlaceMax = 0 // every Update reads the whole record and replaces it
	_, err = s.Commit(ctx, live, store.Change{Mode: store.Update, Set: map[string][]byte{"late": []byte("write")}})
	wantEndedErr("a replacing Update", err)
	wantEndedErr("a Touch", s.Touch(ctx, live, clock.Now(), clock.Now().Add(time.Hour)))
	if infos, err := s.UserSessions(ctx, "carol"); len(infos) != 0 || err != nil {
		t.Errorf("UserSessions after DeleteUser: %+v, %v", infos, err)
	}
})
