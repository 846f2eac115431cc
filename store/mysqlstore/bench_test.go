package mysqlstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store/storetest"
)

// The benchmarks measure the store's two hot calls, and, for the record of
// the layout decision (see the package doc), the one-statement alternative
// it was measured against: the values as one JSON object per session,
// updated with JSON_MERGE_PATCH.
//
//	go test -run '^$' -bench . -benchtime 2000x ./store/mysqlstore

func benchStore(b *testing.B) *Store {
	_, dsn := startServer(b)
	return newStore(b, openDB(b, dsn))
}

// BenchmarkLoad: one statement, the record's row joined with its values.
func BenchmarkLoad(b *testing.B) { storetest.BenchLoad(b, benchStore(b)) }

// BenchmarkCommit: an Update setting one key (the common write, one
// transaction), a Touch (one statement) and a Create.
func BenchmarkCommit(b *testing.B) { storetest.BenchCommit(b, benchStore(b)) }

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
