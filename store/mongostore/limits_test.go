package mongostore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/tether-go/tether/store"
)

// The default limit is store.DefaultMaxRecordSize, counted as
// store.Record.Size counts it: a record of exactly 1 MiB (key, value,
// user id and attributes) is stored, and one more byte, by any part, is
// refused with a *store.TooLargeError, changing nothing. (The suite runs
// with a smaller limit; see smallRecords.)
var _ = backendTest("DefaultLimit", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	s := newStore(t, cl)
	ctx := ctxT(t)
	now := time.Now()
	const user = "alice"
	attrs := map[string]string{"device": "laptop"}
	fixed := len(user) + len("device") + len("laptop") + len("big")
	big := bytes.Repeat([]byte{0xab}, store.DefaultMaxRecordSize-fixed)
	create := func(value []byte) (string, error) {
		id := newID()
		_, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			UserID: user, SetUserID: true, Attrs: attrs, SetAttrs: true, Set: map[string][]byte{"big": value}})
		return id, err
	}
	if _, err := create(append(big, 0)); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Create one byte over 1 MiB: %v, want ErrTooLarge", err)
	}
	id, err := create(big)
	if err != nil {
		t.Fatalf("Create of exactly 1 MiB: %v", err)
	}
	for _, c := range []store.Change{
		{Mode: store.Update, Set: map[string][]byte{"x": nil}},
		{Mode: store.Update, SetUserID: true, UserID: user + "x"},
		{Mode: store.Update, SetAttrs: true, Attrs: map[string]string{"device": "laptopx"}},
	} {
		var tl *store.TooLargeError
		if _, err := s.Commit(ctx, id, c); !errors.As(err, &tl) || tl.Limit != store.DefaultMaxRecordSize {
			t.Errorf("Update adding one byte to a record of 1 MiB: %v, want a *store.TooLargeError with the default limit", err)
		}
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || rec.Size() != store.DefaultMaxRecordSize || rec.Version != 1 {
		t.Fatalf("record after the refused updates: size %d, %v", rec.Size(), err)
	}
})
