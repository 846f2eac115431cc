package pgstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
)

func TestNameValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		ok   bool
	}{
		{"default", nil, true},
		{"quotes and SQL", []Option{WithTable(`x"; DROP TABLE t; --`)}, true},
		{"63 bytes", []Option{WithTable(strings.Repeat("t", 63))}, true},
		{"64 bytes", []Option{WithTable(strings.Repeat("t", 64))}, false},
		{"empty table", []Option{WithTable("")}, false},
		{"NUL", []Option{WithTable("a\x00b")}, false},
		{"invalid UTF-8", []Option{WithTable("a\xffb")}, false},
		{"schema", []Option{WithSchema("app"), WithTable("s")}, true},
		{"bad schema", []Option{WithSchema("a\x00")}, false},
		{"empty channel", []Option{WithChannel("")}, false},
		{"long channel", []Option{WithChannel(strings.Repeat("c", 64))}, false},
	} {
		_, err := DDL(tc.opts...)
		if (err == nil) != tc.ok {
			t.Errorf("%s: DDL error %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestIndexName(t *testing.T) {
	short := indexName("sessions", "_expires_idx")
	if short != "sessions_expires_idx" {
		t.Errorf("indexName = %q", short)
	}
	a := indexName(strings.Repeat("é", 31)+"a", "_expires_idx")
	b := indexName(strings.Repeat("é", 31)+"b", "_expires_idx")
	for _, n := range []string{a, b} {
		if len(n) > maxIdentLen || !strings.HasSuffix(n, "_expires_idx") || checkIdent("index", n) != nil {
			t.Errorf("indexName of a long table = %q (%d bytes), want a valid identifier of at most %d", n, len(n), maxIdentLen)
		}
	}
	if a == b {
		t.Errorf("two long table names share the index name %q", a)
	}
}

func TestDDLQuotes(t *testing.T) {
	ddl, err := DDL(WithSchema(`my "app"`), WithTable(`Sessions; DROP`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ddl, `CREATE TABLE IF NOT EXISTS "my ""app"""."Sessions; DROP" (`) {
		t.Errorf("DDL does not quote the names:\n%s", ddl)
	}
}

// A hostile table name is an identifier, not SQL: the table is created under
// exactly that name, works, and nothing else in the database is touched.
var _ = backendTest("HostileTableName", func(t *testing.T, pool *pgxpool.Pool) {
	ctx := ctxT(t)
	if _, err := pool.Exec(ctx, `CREATE TABLE victim (x int)`); err != nil {
		t.Fatal(err)
	}
	// With the store's own template words in it, too.
	name := `v"; DROP TABLE victim; -- NOTIFY($1) NEW_VALS` + randHex(2)
	s := newStore(t, pool, WithTable(name))
	id := newID()
	now := time.Now()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if rec, err := s.Load(ctx, id); err != nil || rec == nil || string(rec.Values.Get("k")) != "v" {
		t.Fatalf("Load = %+v, %v", rec, err)
	}
	var tables []string
	rows, _ := pool.Query(ctx, `SELECT relname FROM pg_class WHERE relname IN ('victim', $1)`, name)
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 {
		t.Errorf("tables named victim or %q: %q, want both", name, tables)
	}
	// The reaper's and the listener's SQL use the same names.
	if _, err := s.reap(ctx); err != nil {
		t.Errorf("reap: %v", err)
	}
})

// Users who migrate themselves run DDL and turn creation off; a missing
// table, or one of another shape, fails New rather than the first request.
var _ = backendTest("Migrations", func(t *testing.T, pool *pgxpool.Pool) {
	ctx := ctxT(t)
	if _, err := pool.Exec(ctx, `CREATE SCHEMA app`); err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithSchema("app"), WithTable("migrated"), WithCreateTable(false)}
	if _, err := New(ctx, pool, opts...); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("New on a missing table: %v, want a does-not-exist error", err)
	}
	ddl, err := DDL(opts...)
	if err != nil {
		t.Fatal(err)
	}
	// Twice: the statements are idempotent.
	for range 2 {
		if _, err := pool.Exec(ctx, ddl); err != nil {
			t.Fatalf("running DDL: %v", err)
		}
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		t.Fatalf("New on a migrated table: %v", err)
	}
	s.Close()
	if s.Table() != `"app"."migrated"` {
		t.Errorf("Table() = %s", s.Table())
	}

	if _, err := pool.Exec(ctx, `CREATE TABLE app.wrong (id text PRIMARY KEY, data bytea)`); err != nil {
		t.Fatal(err)
	}
	for _, create := range []bool{true, false} {
		// With creation on, creating the indexes fails; without, the check.
		if _, err := New(ctx, pool, WithSchema("app"), WithTable("wrong"), WithCreateTable(create)); err == nil {
			t.Errorf("New on a table of another shape (create %v) succeeded", create)
		}
	}
	if _, err := New(ctx, pool, WithSchema("no_such_schema"), WithTable("t")); err == nil {
		t.Error("New in a missing schema succeeded")
	}
})

// Nodes that start together all create the table: the advisory lock makes
// CREATE ... IF NOT EXISTS safe among them.
var _ = backendTest("ConcurrentCreate", func(t *testing.T, pool *pgxpool.Pool) {
	table := "together_" + randHex(4)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			s, err := New(context.Background(), pool, WithTable(table))
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("New: %v", err)
		}
	}
})
