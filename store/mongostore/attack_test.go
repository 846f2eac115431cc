package mongostore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
)

// storedSizes reads the size fields the store keeps in id's document.
func storedSizes(t *testing.T, s *Store, id string) record {
	t.Helper()
	var doc record
	if err := s.coll.FindOne(ctxT(t), bson.D{{Key: fID, Value: id}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// A Delete that names one key several times (the contract does not forbid
// it: "missing keys are ignored") removes it once and counts it once. A
// store that subtracted its size per mention would drive the stored size
// below the record's, and a caller could then grow the record past the
// limit; on MongoDB the repeated path would also make the projection and
// the $unset collide.
var _ = backendTest("DuplicateDelete", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	const limit = 4096
	s := newStore(t, cl, WithMaxRecordSize(limit))
	ctx := ctxT(t)
	now := time.Now()
	id := newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"a": bytes.Repeat([]byte{1}, 1000), "b": []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Delete: []string{"a", "a", "a", "zz", "zz"}}); err != nil {
		t.Fatalf("Update deleting a key three times: %v", err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil {
		t.Fatalf("Load: %v, %v", rec, err)
	}
	if doc := storedSizes(t, s, id); doc.Size != int64(rec.Size()) || doc.ValSize != int64(rec.Size()) {
		t.Fatalf("stored size %d/%d after a repeated delete, record's %d", doc.Size, doc.ValSize, rec.Size())
	}
	// The limit still holds.
	_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"c": bytes.Repeat([]byte{2}, limit-2)}})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Update past the limit after a repeated delete: %v, want ErrTooLarge", err)
	}
})

// Times past 2262 (or before 1678) do not fit int64 nanoseconds. A session
// configured to last "forever" (an expiry centuries ahead) must stay live,
// not wrap around to a negative expiry and vanish; a tombstone's too.
var _ = backendTest("FarFutureTimes", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	s := newStore(t, cl)
	ctx := ctxT(t)
	now := time.Now()
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	id := newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: far,
		Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || !rec.Expires.After(now.Add(200*365*24*time.Hour)) {
		t.Fatalf("Load of a record expiring in the year 3000: %+v, %v", rec, err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("w")}, Expires: far, LiveAt: now}); err != nil {
		t.Fatalf("Update of it: %v", err)
	}
	if err := s.Touch(ctx, id, now, far.Add(time.Hour)); err != nil {
		t.Fatalf("Touch of it: %v", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || string(rec.Values["k"]) != "w" {
		t.Fatalf("Load after Update and Touch: %+v, %v", rec, err)
	}
	if err := s.Move(ctx, id, store.Moved{To: newID()}, far, 0); err != nil {
		t.Fatalf("Move: %v", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Moved == nil {
		t.Fatalf("Load of a tombstone expiring in the year 3000: %+v, %v", rec, err)
	}
})
