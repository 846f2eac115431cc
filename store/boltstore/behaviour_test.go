package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
	"github.com/tether-go/tether/store/storetest"
)

var bg = context.Background()

func create(t *testing.T, s *boltstore.Store, id, user string, now, expires time.Time, values map[string][]byte) {
	t.Helper()
	_, err := s.Commit(bg, id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: expires,
		Set: values, UserID: user, SetUserID: true,
	})
	if err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
}

// A write whose deadline has passed by the time its transaction runs
// changes nothing; Delete is not held to it.
func TestLateWritesRefused(t *testing.T) {
	late := false
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if late {
			return time.Now().Add(time.Hour)
		}
		return time.Now()
	}
	s := open(t, boltstore.WithDeadlineClock(clock))
	now := time.Now()
	id := fixtureID(1)
	create(t, s, id, "u", now, now.Add(time.Hour), map[string][]byte{"a": []byte("1")})
	before, _ := s.Load(bg, id)

	mu.Lock()
	late = true
	mu.Unlock()
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	writes := map[string]func() error{
		"Commit(update)": func() error {
			_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("2")}})
			return err
		},
		"Commit(create)": func() error {
			_, err := s.Commit(ctx, fixtureID(2), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
			return err
		},
		"Touch": func() error { return s.Touch(ctx, id, now, now.Add(2*time.Hour)) },
		"Move":  func() error { return s.Move(ctx, id, store.Moved{To: fixtureID(3)}, now.Add(time.Hour), 0) },
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline: %v, want an error matching context.DeadlineExceeded", name, err)
		}
	}
	after, _ := s.Load(bg, id)
	if after == nil || after.Version != before.Version || string(after.Values.Get("a")) != "1" || !after.Expires.Equal(before.Expires) {
		t.Errorf("a refused late write changed the record: %+v", after)
	}
	if rec, _ := s.Load(bg, fixtureID(2)); rec != nil {
		t.Error("a refused late Create left a record")
	}
	// No deadline, no check.
	if _, err := s.Commit(bg, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": []byte("3")}}); err != nil {
		t.Errorf("write without a deadline: %v", err)
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Errorf("Delete past its deadline: %v, want nil", err)
	}
}

// A record of exactly the limit is stored; a byte more is refused and
// changes nothing.
func TestRecordSizeLimit(t *testing.T) {
	const limit = 1000
	s := open(t, boltstore.WithMaxRecordSize(limit))
	now := time.Now()
	id := fixtureID(1)
	user := "alice" // 5 bytes
	exact := map[string][]byte{"k": bytes.Repeat([]byte{1}, limit-len(user)-1)}
	create(t, s, id, user, now, now.Add(time.Hour), exact)

	_, err := s.Commit(bg, id, store.Change{Mode: store.Update, Set: map[string][]byte{"x": nil}})
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Size != limit+1 || tl.Limit != limit {
		t.Fatalf("Update one byte over: %v, want *store.TooLargeError{%d, %d}", err, limit+1, limit)
	}
	rec, _ := s.Load(bg, id)
	if rec.Version != 1 || rec.Values.Len() != 1 {
		t.Errorf("refused Update changed the record: version %d, %d values", rec.Version, rec.Values.Len())
	}
	if _, err := s.Commit(bg, fixtureID(2), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"k": bytes.Repeat([]byte{1}, limit)}}); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create one byte over: %v, want ErrTooLarge", err)
	}
	if err := s.Move(bg, id, store.Moved{To: fixtureID(3), Sealed: bytes.Repeat([]byte{1}, limit)}, now.Add(time.Hour), 0); !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Move to a tombstone over the limit: %v, want ErrTooLarge", err)
	}
}

func TestDefaultRecordSizeLimit(t *testing.T) {
	s := open(t)
	now := time.Now()
	_, err := s.Commit(bg, fixtureID(1), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"k": make([]byte, store.DefaultMaxRecordSize)}})
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Limit != store.DefaultMaxRecordSize {
		t.Errorf("Create of 1 MiB + 1: %v, want a *store.TooLargeError with the default limit", err)
	}
}

func TestLongUserIDRefused(t *testing.T) {
	s := open(t)
	now := time.Now()
	_, err := s.Commit(bg, fixtureID(1), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		UserID: strings.Repeat("u", boltstore.MaxUserIDLen+1), SetUserID: true})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Errorf("Create with a %d-byte user id: %v, want ErrTooLarge", boltstore.MaxUserIDLen+1, err)
	}
}

// The reaper deletes expired records, their index entries with them, in
// batches, and leaves live ones.
func TestReaper(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, boltstore.WithClock(clock.Now), boltstore.WithReapBatch(2))
	now := clock.Now()
	for i := range 5 {
		create(t, s, fixtureID(i), "gone", now, now.Add(time.Minute), nil)
	}
	for i := 5; i < 105; i++ {
		create(t, s, fixtureID(i), "kept", now, now.Add(time.Hour), nil)
	}
	// A record whose expiry a Touch moved later is not reaped at its old
	// expiry.
	if err := s.Touch(bg, fixtureID(4), now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	var batches []int
	for {
		n, err := s.ReapBatch()
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, n)
		if n < 2 {
			break
		}
	}
	if fmt.Sprint(batches) != "[2 2 0]" {
		t.Errorf("reap batches removed %v entries, want [2 2 0]", batches)
	}
	if n, _ := s.Len(); n != 101 {
		t.Errorf("%d records left, want 101", n)
	}
	// The user index no longer names the reaped records.
	if n, err := s.DeleteUser(bg, "gone"); err != nil || n != 1 {
		t.Errorf("DeleteUser(gone) = %d, %v; want the one touched session", n, err)
	}
}

// The reaper goroutine runs on its own, and Close stops it (goleak checks
// at the end of the package's tests).
func TestReaperRuns(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, boltstore.WithClock(clock.Now), boltstore.WithReapInterval(time.Millisecond))
	now := clock.Now()
	create(t, s, fixtureID(1), "", now, now.Add(time.Minute), nil)
	clock.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := s.Len(); n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the reaper did not remove an expired record within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClosed(t *testing.T) {
	s, err := boltstore.Open(t.TempDir() + "/s.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Load(bg, fixtureID(1)); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("Load after Close: %v", err)
	}
	if err := s.Delete(bg, fixtureID(1)); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("Delete after Close: %v", err)
	}
	if err := s.Ping(bg); !errors.Is(err, boltstore.ErrClosed) {
		t.Errorf("Ping after Close: %v", err)
	}
}

// Concurrent writers share transactions: fewer transactions than writes,
// and none of the writes lost.
func TestGroupCommit(t *testing.T) {
	s := open(t)
	now := time.Now()
	id := fixtureID(1)
	create(t, s, id, "", now, now.Add(time.Hour), nil)
	start := s.Transactions()
	const writers, each = 50, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := s.Commit(bg, id, store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprint(w, "-", i): nil}})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	rec, _ := s.Load(bg, id)
	if rec.Values.Len() != writers*each || rec.Version != 1+writers*each {
		t.Errorf("after %d concurrent updates: %d values, version %d", writers*each, rec.Values.Len(), rec.Version)
	}
	txns := s.Transactions() - start
	t.Logf("%d concurrent writes in %d transactions", writers*each, txns)
	if txns >= writers*each {
		t.Errorf("%d writes took %d transactions: no grouping", writers*each, txns)
	}
}

// Refused writes (ErrNotFound, ErrExists) in a group do not fail the
// others.
func TestGroupWithRefusals(t *testing.T) {
	s := open(t)
	now := time.Now()
	create(t, s, fixtureID(0), "", now, now.Add(time.Hour), nil)
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				_, errs[i] = s.Commit(bg, fixtureID(1000+i), store.Change{Mode: store.Update})
			} else {
				_, errs[i] = s.Commit(bg, fixtureID(i), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("update of a missing record: %v", err)
		}
		if i%2 == 1 && err != nil {
			t.Errorf("create %d: %v", i, err)
		}
	}
	if n, _ := s.Len(); n != 21 {
		t.Errorf("%d records, want 21", n)
	}
}

func TestInvalidID(t *testing.T) {
	s := open(t)
	now := time.Now()
	for _, id := range []string{"", strings.Repeat("x", boltstore.MaxIDLen+1)} {
		_, err := s.Commit(bg, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
		if !errors.Is(err, boltstore.ErrInvalidID) {
			t.Errorf("Create under a %d-byte id: %v, want ErrInvalidID", len(id), err)
		}
		if rec, err := s.Load(bg, id); rec != nil || err != nil {
			t.Errorf("Load of a %d-byte id: %v, %v", len(id), rec, err)
		}
	}
}

// A Move resent after its reply was lost finds its own tombstone and
// succeeds, live or expired; a Move to another ID is told of the rotation.
func TestResentMove(t *testing.T) {
	clock := storetest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s := open(t, boltstore.WithClock(clock.Now))
	now := clock.Now()
	id, to := fixtureID(1), store.Moved{To: fixtureID(2)}
	create(t, s, id, "u", now, now.Add(time.Hour), nil)
	if err := s.Move(bg, id, to, now.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	v := func() uint64 { rec, _ := s.Load(bg, id); return rec.Version }
	before := v()
	if err := s.Move(bg, id, to, now.Add(time.Minute), 1); err != nil {
		t.Errorf("resent Move: %v, want nil", err)
	}
	if v() != before {
		t.Error("resent Move changed the tombstone")
	}
	if err := s.Move(bg, id, store.Moved{To: fixtureID(3)}, now.Add(time.Minute), 0); err == nil {
		t.Error("Move to another ID over a tombstone succeeded")
	}
	clock.Advance(2 * time.Minute)
	if err := s.Move(bg, id, to, now.Add(time.Minute), 1); err != nil {
		t.Errorf("resent Move after the tombstone expired: %v, want nil", err)
	}
}
