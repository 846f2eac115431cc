package pgstore

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/internal/attrcodec"
	"github.com/tether-go/tether/store"
)

// oldDDL is the table as versions before session attributes created it.
const oldDDL = `CREATE TABLE %s (
	id        text        PRIMARY KEY,
	vals      jsonb       NOT NULL DEFAULT '{}',
	user_id   text,
	created   timestamptz NOT NULL,
	last_seen timestamptz NOT NULL,
	expires   timestamptz NOT NULL,
	version   bigint      NOT NULL,
	moved_to  text,
	sealed    bytea
)`

// A deployment upgraded from before attributes has the old table: New adds
// the column (nodes starting together, too), rows written before load with
// no attributes, and take some afterwards. Without creation, New refuses the
// old table rather than failing the first request.
var _ = backendTest("UpgradeAddsAttrs", func(t *testing.T, pool *pgxpool.Pool) {
	ctx := ctxT(t)
	table := "old_" + randHex(4)
	if _, err := pool.Exec(ctx, strings.Replace(oldDDL, "%s", `"`+table+`"`, 1)); err != nil {
		t.Fatal(err)
	}
	id, now := newID(), time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO "`+table+`" (id, vals, user_id, created, last_seen, expires, version)
		VALUES ($1, '{"k": "dg=="}', 'alice', $2, $2, $3, 4)`, id, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	if _, err := New(ctx, pool, WithTable(table), WithCreateTable(false)); err == nil || !strings.Contains(err.Error(), "expected columns") {
		t.Errorf("New without creation on a table that lacks attrs: %v, want an expected-columns error", err)
	}

	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = New(context.Background(), pool, WithTable(table)) })
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
var _ = backendTest("CorruptAttrs", func(t *testing.T, pool *pgxpool.Pool) {
	ctx := ctxT(t)
	s := newStore(t, pool)
	id, now := newID(), time.Now()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		SetUserID: true, UserID: "bob", SetAttrs: true, Attrs: map[string]string{"a": "b"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{{2}, {1, 0, 0, 0, 9, 1, 1, 'a', 1}, {1, 0, 0}} {
		if _, err := pool.Exec(ctx, "UPDATE "+s.Table()+" SET attrs = $1 WHERE id = $2", bad, id); err != nil {
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
// record whose kept attributes fill the limit refuses a value that would
// fit without them, in the statement and in the explanation it gives.
var _ = backendTest("KeptAttrsCountInLimit", func(t *testing.T, pool *pgxpool.Pool) {
	ctx := ctxT(t)
	s := newStore(t, pool, WithMaxRecordSize(1000))
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

// UserSessions lists attributes without reading the values.
func TestUserSessionsSkipsValues(t *testing.T) {
	q := buildQueries(`"t"`, true)
	if strings.Contains(q.userSessions, "vals") || !strings.Contains(q.userSessions, "attrs") {
		t.Errorf("UserSessions query reads values or not attributes:\n%s", q.userSessions)
	}
}
