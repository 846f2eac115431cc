package mysqlstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// The benchmarks measure the store's two hot calls, and, for the record of
// the layout decision (see the package doc), the one-statement alternative
// it was measured against: the values as one JSON object per session,
// updated with JSON_MERGE_PATCH.
//
//	go test -run '^$' -bench . -benchtime 2000x ./store/mysqlstore

func benchValues(n, size int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[fmt.Sprintf("key-%02d", i)] = make([]byte, size)
	}
	return m
}

// benchRecords are pgstore's benchmark shapes, for a comparison: a typical
// session (a few small values) and a heavy one (a 10 KB cart).
var benchRecords = []struct {
	name   string
	values map[string][]byte
}{
	{"small", benchValues(5, 40)},
	{"10KB", benchValues(10, 1000)},
}

func benchStore(b *testing.B) *Store {
	_, dsn := startServer(b)
	return newStore(b, openDB(b, dsn))
}

func benchCreate(b *testing.B, s *Store, values map[string][]byte) string {
	id := newID()
	now := time.Now()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "bench-user", Set: values}
	if _, err := s.Commit(b.Context(), id, c); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkLoad: one statement, the record's row joined with its values.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b)
	for _, r := range benchRecords {
		b.Run(r.name, func(b *testing.B) {
			id := benchCreate(b, s, r.values)
			b.ReportAllocs()
			for b.Loop() {
				if rec, err := s.Load(b.Context(), id); err != nil || rec == nil {
					b.Fatal(rec, err)
				}
			}
		})
	}
}

// BenchmarkCommit: an Update setting one key (the common write, one
// transaction), a Touch (one statement) and a Create.
func BenchmarkCommit(b *testing.B) {
	s := benchStore(b)
	for _, r := range benchRecords {
		b.Run(r.name, func(b *testing.B) {
			id := benchCreate(b, s, r.values)
			value := []byte("0123456789012345678901234567890123456789")
			b.ReportAllocs()
			for b.Loop() {
				c := store.Change{Mode: store.Update, Set: map[string][]byte{"key-00": value}}
				if _, err := s.Commit(b.Context(), id, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("touch", func(b *testing.B) {
		id := benchCreate(b, s, benchRecords[0].values)
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			if err := s.Touch(b.Context(), id, now, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchCreate(b, s, benchRecords[0].values)
		}
	})
}

// BenchmarkCommitJSONAlternative: the same update as one statement on a
// JSON column, with the liveness and deadline checks in its WHERE clause and
// no size check (which needs each value's length: JSON paths, see the
// package doc).
func BenchmarkCommitJSONAlternative(b *testing.B) {
	s := benchStore(b)
	db, ctx := s.db, b.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE json_alt (id VARBINARY(255) PRIMARY KEY, vals LONGTEXT NOT NULL,
		expires BIGINT NOT NULL, version BIGINT UNSIGNED NOT NULL, moved_to VARBINARY(255) NULL)`); err != nil {
		b.Fatal(err)
	}
	obj := map[string]string{}
	for i := range 10 {
		obj[fmt.Sprintf("key%d", i)] = base64.StdEncoding.EncodeToString(make([]byte, 100))
	}
	vals, _ := json.Marshal(obj)
	if _, err := db.ExecContext(ctx, `INSERT INTO json_alt VALUES ('x', ?, ?, 1, NULL)`, vals, time.Now().Add(time.Hour).UnixNano()); err != nil {
		b.Fatal(err)
	}
	upd, err := db.PrepareContext(ctx, `UPDATE json_alt SET vals = JSON_MERGE_PATCH(vals, ?), version = version + 1
		WHERE id = ? AND expires > ? AND moved_to IS NULL AND `+serverNow+` < ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer upd.Close()
	patch, _ := json.Marshal(map[string]string{"key3": base64.StdEncoding.EncodeToString(make([]byte, 100))})
	for b.Loop() {
		dl := time.Now().Add(time.Second).UnixMicro()
		if res, err := upd.ExecContext(ctx, patch, "x", time.Now().UnixNano(), dl); err != nil {
			b.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			b.Fatal("no row updated")
		}
	}
}
