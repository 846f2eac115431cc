package mysqlstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// A stopped server gives errors, never "no session" (nil record, nil error,
// or ErrNotFound), which the session manager would turn into a new, empty
// session; the pool recovers once it is back, with nothing acknowledged
// lost.
func TestFault(t *testing.T) {
	srv, dsn := startServer(t)
	db := openDB(t, dsn)
	s := newStore(t, db, WithTimeout(3*time.Second))
	ctx := ctxT(t)

	type acked struct {
		id      string
		version uint64
	}
	var records []acked
	for i := range 20 {
		id, _ := createRecord(t, s, time.Now())
		res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": fmt.Appendf(nil, "%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, acked{id, res.Version})
	}

	srv.Stop()
	id := records[0].id
	notNoSession := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
			t.Errorf("%s with the server down: %v, want an outage error", what, err)
		}
	}
	rec, err := s.Load(ctx, id)
	if rec != nil {
		t.Errorf("Load with the server down returned a record: %+v", rec)
	}
	notNoSession("Load", err)
	_, err = s.Version(ctx, id)
	notNoSession("Version", err)
	_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}})
	notNoSession("Update", err)
	now := time.Now()
	_, err = s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
	notNoSession("Create", err)
	notNoSession("Touch", s.Touch(ctx, id, now, now.Add(time.Hour)))
	notNoSession("Move", s.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Minute), 0))
	_, err = s.UserSessions(ctx, "someone")
	notNoSession("UserSessions", err)
	notNoSession("Ping", s.Ping(ctx))
	t.Logf("an error with the server down: %v", err)

	srv.Start()
	// The pool discards its dead connections (the driver checks a pooled
	// connection before reusing it) and dials new ones: the first call
	// after the restart succeeds.
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after the restart: %v", err)
	}
	for i, r := range records {
		rec, err := s.Load(ctx, r.id)
		if err != nil || rec == nil || rec.Version < r.version || !bytes.Equal(rec.Values.Get("n"), fmt.Appendf(nil, "%d", i)) {
			t.Errorf("acknowledged record %d after the restart: %+v, %v", i, rec, err)
		}
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"after": []byte("1")}}); err != nil {
		t.Errorf("Update after the restart: %v", err)
	}
}

// A server whose max_allowed_packet is smaller than the record limit is
// refused by New with a *PacketTooSmallError that says what to change; if
// it shrinks later, a write too large for it fails with one too.
func TestMaxAllowedPacket(t *testing.T) {
	_, dsn := startServer(t)
	db := openDB(t, dsn)
	s := newStore(t, db) // with the server's default (16 MiB)
	ctx := ctxT(t)
	if _, err := db.ExecContext(ctx, "SET GLOBAL max_allowed_packet = 65536"); err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0) // new connections see the new value
	db.SetMaxIdleConns(16)

	_, err := New(ctx, db, WithTable("small_"+randHex(4)))
	var pe *PacketTooSmallError
	if !errors.As(err, &pe) || pe.MaxAllowedPacket != 65536 || pe.MaxRecordSize != DefaultMaxRecordSize {
		t.Fatalf("New with max_allowed_packet below the record limit: %v, want a *PacketTooSmallError", err)
	}
	t.Logf("New: %v", err)
	newStore(t, db, WithMaxRecordSize(32<<10)) // fits

	now := time.Now()
	_, err = s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"big": bytes.Repeat([]byte("x"), 200<<10)}})
	if !errors.As(err, &pe) {
		t.Fatalf("Create of a 200 KiB value over a 64 KiB max_allowed_packet: %v, want a *PacketTooSmallError", err)
	}
	t.Logf("Commit: %v", err)
}
