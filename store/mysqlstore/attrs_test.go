package mysqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/attrcodec"
	"github.com/tether-go/tether/store"
)

// oldDDL is the sessions table as versions before session attributes created
// it (the values table is unchanged).
const oldDDL = `CREATE TABLE %s (
	id        VARBINARY(255)  NOT NULL,
	user_id   VARBINARY(1024) NULL,
	created   BIGINT          NOT NULL,
	last_seen BIGINT          NOT NULL,
	expires   BIGINT          NOT NULL,
	version   BIGINT UNSIGNED NOT NULL,
	moved_to  VARBINARY(255)  NULL,
	sealed    BLOB            NULL,
	PRIMARY KEY (id),
	KEY by_user (user_id),
	KEY by_expiry (expires)
) ENGINE=InnoDB`

// A deployment upgraded from before attributes has the old table: New adds
// the column (nodes starting together, too), rows written before load with
// no attributes, and take some afterwards. Without creation, New refuses the
// old table rather than failing the first request.
var _ = backendTest("UpgradeAddsAttrs", func(t *testing.T, db *sql.DB, _ string) {
	ctx := ctxT(t)
	table := "old_" + randHex(4)
	n, err := newNames(&config{table: table})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, fmt.Sprintf(oldDDL, n.table)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, n.ddl()[1]); err != nil { // the values table
		t.Fatal(err)
	}
	id, now := newID(), time.Now()
	if _, err := db.ExecContext(ctx, "INSERT INTO "+n.table+" (id, user_id, created, last_seen, expires, version) VALUES (?, 'alice', ?, ?, ?, 4)",
		id, now.UnixNano(), now.UnixNano(), now.Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO "+n.values+" (id, k, v) VALUES (?, 'k', 'v')", id); err != nil {
		t.Fatal(err)
	}

	if _, err := New(ctx, db, WithTable(table), WithCreateTable(false)); err == nil || !strings.Contains(err.Error(), "expected columns") {
		t.Errorf("New without creation on a table that lacks attrs: %v, want an expected-columns error", err)
	}

	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = New(context.Background(), db, WithTable(table)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("New on the old table: %v", err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	s := stores[0]

	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil {
		t.Fatalf("Load of a row written before the upgrade: %+v, %v", rec, err)
	}
	if rec.Attrs != nil || string(rec.Values.Get("k")) != "v" || rec.UserID != "alice" || rec.Version != 4 {
		t.Errorf("row written before the upgrade loads as %+v", rec)
	}
	infos, err := s.UserSessions(ctx, "alice")
	if err != nil || len(infos) != 1 || infos[0].Attrs != nil {
		t.Fatalf("UserSessions after the upgrade: %+v, %v", infos, err)
	}
	attrs := map[string]string{"device": "phone"}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatalf("setting attributes on an old row: %v", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || !maps.Equal(rec.Attrs, attrs) {
		t.Errorf("old row after setting attributes: %+v, %v", rec, err)
	}
})

// The attrs column is read as untrusted: what Encode cannot have written is
// a *attrcodec.CorruptError from Load and UserSessions, never a panic.
var _ = backendTest("CorruptAttrs", func(t *testing.T, db *sql.DB, _ string) {
	ctx := ctxT(t)
	s := newStore(t, db)
	id, now := newID(), time.Now()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"k": []byte("v"), "k2": []byte("v2")}, SetUserID: true, UserID: "bob",
		SetAttrs: true, Attrs: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{2}, {1, 0, 0, 0, 9, 1, 1, 'a', 1}, {1, 0, 0}} {
		if _, err := db.ExecContext(ctx, "UPDATE "+s.n.table+" SET attrs = ? WHERE id = ?", bad, id); err != nil {
			t.Fatal(err)
		}
		var ce *attrcodec.CorruptError
		if rec, err := s.Load(ctx, id); !errors.As(err, &ce) {
			t.Errorf("Load of attrs %x: %+v, %v, want a *attrcodec.CorruptError", bad, rec, err)
		}
		if infos, err := s.UserSessions(ctx, "bob"); !errors.As(err, &ce) {
			t.Errorf("UserSessions with attrs %x: %+v, %v, want a *attrcodec.CorruptError", bad, infos, err)
		}
	}
})

// The size check reads the stored attributes' size from their header: a
// record whose kept attributes fill the limit refuses a value that would fit
// without them.
var _ = backendTest("KeptAttrsCountInLimit", func(t *testing.T, db *sql.DB, _ string) {
	ctx := ctxT(t)
	s := newStore(t, db, WithMaxRecordSize(1000))
	id, now := newID(), time.Now()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		SetAttrs: true, Attrs: map[string]string{"a": strings.Repeat("x", 900)}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": make([]byte, 99)}})
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Size != 1001 {
		t.Errorf("Update over the limit through kept attributes: %v, want a TooLargeError of size 1001", err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"k": make([]byte, 98)}}); err != nil {
		t.Errorf("Update to exactly the limit with kept attributes: %v", err)
	}
})

// manyAttrs returns n attributes with distinct 3-byte keys and empty values:
// 3 bytes of size, 2 more of encoding, each.
func manyAttrs(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[string([]byte{'a', byte(i >> 8), byte(i)})] = ""
	}
	return m
}

// Attributes whose encoding outgrows their size by more than the packet's
// slack are refused before any round trip, changing nothing.
var _ = backendTest("TooManyAttrs", func(t *testing.T, db *sql.DB, _ string) {
	ctx := ctxT(t)
	s := newStore(t, db)
	id, rec := createRecord(t, s, time.Now())
	attrs := manyAttrs(maxAttrsOverhead/2 + 1)
	_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs})
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update with %d attributes: %v, want ErrTooLarge", len(attrs), err)
	}
	if got, _ := s.Load(ctx, id); got == nil || got.Version != rec.Version || got.Attrs != nil {
		t.Errorf("record after a refused change of attributes: %+v", got)
	}
	attrs = manyAttrs(maxAttrsOverhead/2 - 8)
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatalf("Update with %d attributes: %v", len(attrs), err)
	}
	if got, err := s.Load(ctx, id); err != nil || !maps.Equal(got.Attrs, attrs) {
		t.Errorf("Load after setting %d attributes: %d of them, %v", len(attrs), len(got.Attrs), err)
	}
})

// On a server whose max_allowed_packet is the least New accepts, a record
// at the limit, half attributes (as many as the store takes) and half one
// value, is written, loaded and listed: the attributes' encoding fits in the
// packet's slack, in the write's packet and in the row Load reads.
func TestAttrsAtPacketLimit(t *testing.T) {
	_, dsn := startServer(t)
	db := openDB(t, dsn)
	ctx := ctxT(t)
	packet := DefaultMaxRecordSize + packetSlack
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET GLOBAL max_allowed_packet = %d", packet)); err != nil {
		t.Fatal(err)
	}
	db.SetMaxIdleConns(0) // new connections see the new value
	db.SetMaxIdleConns(16)
	s := newStore(t, db)

	user := "alice"
	attrs := manyAttrs(maxAttrsOverhead/2 - 8)
	half := DefaultMaxRecordSize / 2
	attrs["big"] = strings.Repeat("a", half-attrcodec.Size(attrs)-len("big")-len(user))
	value := bytes.Repeat([]byte("v"), DefaultMaxRecordSize-half-len("k"))
	rec := store.Record{Values: store.ValuesOf(map[string][]byte{"k": value}), UserID: user, Attrs: attrs}
	if rec.Size() != DefaultMaxRecordSize {
		t.Fatalf("test record is %d bytes, want %d", rec.Size(), DefaultMaxRecordSize)
	}
	t.Logf("%d attributes encoded in %d bytes, a %d-byte value, max_allowed_packet %d",
		len(attrs), attrcodec.EncodedLen(attrs), len(value), packet)

	id, now := newID(), time.Now()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: rec.Values.Map(), SetUserID: true, UserID: user, SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatalf("Create at the limit: %v", err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: rec.Values.Map(), SetAttrs: true, Attrs: attrs}); err != nil {
		t.Fatalf("Update at the limit: %v", err)
	}
	got, err := s.Load(ctx, id)
	if err != nil || got == nil || !maps.Equal(got.Attrs, attrs) || !bytes.Equal(got.Values.Get("k"), value) {
		t.Fatalf("Load at the limit: %v", err)
	}
	infos, err := s.UserSessions(ctx, user)
	if err != nil || len(infos) != 1 || !maps.Equal(infos[0].Attrs, attrs) {
		t.Fatalf("UserSessions at the limit: %d sessions, %v", len(infos), err)
	}
}
