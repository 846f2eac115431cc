package mongostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
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
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || string(rec.Values.Get("k")) != "w" {
		t.Fatalf("Load after Update and Touch: %+v, %v", rec, err)
	}
	if err := s.Move(ctx, id, store.Moved{To: newID()}, far, 0); err != nil {
		t.Fatalf("Move: %v", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || rec.Moved == nil {
		t.Fatalf("Load of a tombstone expiring in the year 3000: %+v, %v", rec, err)
	}
})

// An Update too large for one in-place command (many tiny keys: see
// inPlaceMax) replaces the whole document, filtered on the version it read.
// It keeps the contract of the in-place path: the change applied exactly,
// never to a tombstone or an expired record, the limit, the version, and
// concurrent writers (in place or not) all land. (storetest.Run with every
// Update replacing passed too, in 175 s under the race detector: too slow
// to run every time.)
var _ = backendTest("ReplaceUpdate", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	const limit = 8192
	clock := storetest.NewClock(time.Now())
	s := newStore(t, cl, WithMaxRecordSize(limit), WithClock(clock.Now), func(c *config) { c.inPlaceMax = 200 })
	ctx := ctxT(t)
	now := clock.Now()
	id := newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}, UserID: "u", Attrs: map[string]string{"d": "x"}}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")}
	big := store.Change{Mode: store.Update, Delete: []string{"a", "a"}, Set: map[string][]byte{}, LastSeen: now.Add(time.Second), LiveAt: now}
	for i := range 20 {
		big.Set[fmt.Sprintf("%%.$%d", i)] = []byte{byte(i)}
	}
	if inPlaceCost(&big, []string{"a"}) <= s.cfg.inPlaceMax {
		t.Fatal("the change fits in place: the test proves nothing")
	}
	res, err := s.Commit(ctx, id, big)
	if err != nil || res.Before() != 1 || res.Version <= 1 {
		t.Fatalf("large Update: %+v, %v; want it applied to version 1", res, err)
	}
	want = big.Apply(store.ValuesOf(want)).Map()
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil || rec.Version != res.Version || !maps.EqualFunc(rec.Values.Map(), want, bytes.Equal) || rec.UserID != "u" ||
		rec.Attrs["d"] != "x" || !rec.LastSeen.Equal(now.Add(time.Second)) || !rec.Created.Equal(now) {
		t.Fatalf("after the large Update: %+v, %v", rec, err)
	}
	if doc := storedSizes(t, s, id); doc.Size != int64(rec.Size()) || doc.ValSize != int64(rec.Size()-len("u")-len("dx")) || doc.AttrSize != 2 {
		t.Errorf("stored sizes %d/%d/%d after the large Update, record's %d", doc.Size, doc.ValSize, doc.AttrSize, rec.Size())
	}
	// Then in place again: the sizes it pins are right.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"b": bytes.Repeat([]byte{1}, limit-rec.Size()+2)}}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("in-place Update one byte over the limit after a large one: %v, want ErrTooLarge", err)
	}
	// The limit, on the large path.
	over := store.Change{Mode: store.Update, Set: map[string][]byte{}}
	for i := range 20 {
		over.Set[fmt.Sprintf("%%.$%d", i)] = bytes.Repeat([]byte{1}, limit/20)
	}
	if _, err := s.Commit(ctx, id, over); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("large Update over the limit: %v, want ErrTooLarge", err)
	}
	// Concurrent large and small writers of one record: all land.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			c := store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprintf("w%d", i): []byte("x")}}
			if i%2 == 0 {
				for j := range 20 {
					c.Set[fmt.Sprintf("w%d.%d", i, j)] = []byte("y")
				}
			}
			var err error
			for range 20 {
				if _, err = s.Commit(ctx, id, c); !errors.Is(err, store.ErrConflict) {
					break
				}
			}
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
	rec, err = s.Load(ctx, id)
	// Every write raised the version, by a random step of at least one.
	if err != nil || rec == nil || rec.Version < 22 {
		t.Fatalf("after 20 concurrent writers: %+v, %v; want version 22 or more", rec, err)
	}
	for i := range 20 {
		if rec.Values.Get(fmt.Sprintf("w%d", i)) == nil || (i%2 == 0 && rec.Values.Get(fmt.Sprintf("w%d.19", i)) == nil) {
			t.Errorf("writer %d lost", i)
		}
	}
	if doc := storedSizes(t, s, id); doc.Size != int64(rec.Size()) {
		t.Errorf("stored size %d after concurrent writers, record's %d", doc.Size, rec.Size())
	}
	// Never a tombstone or an expired record.
	to := newID()
	if err := s.Move(ctx, id, store.Moved{To: to}, now.Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	var moved *store.MovedError
	if _, err := s.Commit(ctx, id, big); !errors.As(err, &moved) || moved.Moved.To != to {
		t.Errorf("large Update of a tombstone: %v, want a *MovedError", err)
	}
	id2, _ := createRecord(t, s, now)
	clock.Advance(2 * time.Hour)
	if _, err := s.Commit(ctx, id2, big); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("large Update of an expired record: %v, want ErrNotFound", err)
	}
	if n, _ := s.coll.CountDocuments(ctx, bson.D{{Key: fID, Value: id2}, {Key: fVersion, Value: 1}}); n != 1 {
		t.Error("the expired record changed")
	}
})

// An Update judges the record's expiry when its write goes out, not before
// the read that precedes it: a record that expires during that read is not
// extended (resurrected) by the write. The clock jumps while the read is on
// the wire (a command monitor moves it), in place and on the replacing
// path.
var _ = backendTest("ExpiresDuringUpdateRead", func(t *testing.T, _ *mongo.Client, f *ferret) {
	for _, replace := range []bool{false, true} {
		clock := storetest.NewClock(time.Now())
		var armed atomic.Bool
		cl, err := mongo.Connect(options.Client().ApplyURI(f.URI()).SetMaxPoolSize(1).SetServerSelectionTimeout(selectTimeout).
			SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
				if e.CommandName == "find" && armed.Swap(false) {
					clock.Advance(2 * time.Second)
				}
			}}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Disconnect(context.Background()) })
		opts := []Option{WithClock(clock.Now)}
		if replace {
			opts = append(opts, func(c *config) { c.inPlaceMax = -1 })
		}
		s := newStore(t, cl, opts...)
		ctx := ctxT(t)
		now := clock.Now()
		id := newID()
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Second),
			Set: map[string][]byte{"k": []byte("v")}}); err != nil {
			t.Fatal(err)
		}
		armed.Store(true)
		_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": []byte("w")}, Expires: now.Add(time.Hour)})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("replace %v: Update of a record that expired during its read: %v, want ErrNotFound", replace, err)
		}
		if rec, err := s.Load(ctx, id); rec != nil || err != nil {
			t.Errorf("replace %v: the expired record came back: %+v, %v", replace, rec, err)
		}
	}
})

// A Create over an expired record checks its deadline, by the store's
// clock, before the replaceOne as before the insertOne: a Create whose
// deadline passed while its insert was refused (duplicate _id) changes
// nothing.
var _ = backendTest("LateCreateOverExpired", func(t *testing.T, _ *mongo.Client, f *ferret) {
	clock := storetest.NewClock(time.Now())
	var armed atomic.Bool
	cl, err := mongo.Connect(options.Client().ApplyURI(f.URI()).SetMaxPoolSize(1).SetServerSelectionTimeout(selectTimeout).
		SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if e.CommandName == "insert" && armed.Swap(false) {
				clock.Advance(time.Minute)
			}
		}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Disconnect(context.Background()) })
	s := newStore(t, cl, WithClock(clock.Now))
	ctx := ctxT(t)
	now := clock.Now()
	id := newID()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithDeadline(ctx, now.Add(30*time.Second))
	defer cancel()
	armed.Store(true)
	_, err = s.Commit(dctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"k": []byte("v")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Create whose deadline passed during its insert: %v, want DeadlineExceeded", err)
	}
	if rec, err := s.Load(ctx, id); rec != nil || err != nil {
		t.Errorf("the late Create landed: %+v, %v", rec, err)
	}
})

// Where the server refuses the TTL index, the reaper's deleteMany on the
// reap time has an index of its own to use: without one, every round
// scans the whole collection (on MongoDB; FerretDB scans anyway).
var _ = backendTest("ReaperIndex", func(t *testing.T, cl *mongo.Client, _ *ferret) {
	s := newStore(t, cl)
	if s.TTLIndex() {
		t.Skip("the server accepted the TTL index")
	}
	specs, err := s.coll.Indexes().ListSpecifications(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range specs {
		var keys bson.D
		if err := bson.Unmarshal(sp.KeysDocument, &keys); err == nil && len(keys) == 1 && keys[0].Key == fReapAt {
			return
		}
	}
	t.Errorf("no index on the reap time: %+v", specs)
})
