package mysqlstore

import (
	"database/sql"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// MariaDB or MySQL behind an asynchronous replica loses commits it
// acknowledged when a failover promotes the replica, as Redis and Postgres
// do: the next write must not reuse the lost write's version, or the
// rotation's Move, checked against the version a request loaded from the
// lost write, passes over the newer record and copies the lost values. The
// failover is played by copying the row and its values back as they were
// before the lost commit.
var _ = backendTest("MoveAfterLostWrite", func(t *testing.T, db *sql.DB, _ string) {
	s := newStore(t, db)
	ctx := ctxT(t)
	id, _ := createRecord(t, s, time.Now())
	rows, vals := s.cfg.table, s.cfg.table+"_values"
	snap := s.cfg.table + "_snap"
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE "+snap+" AS SELECT * FROM "+rows+" WHERE id = ?", id)
	exec("CREATE TABLE "+snap+"_v AS SELECT * FROM "+vals+" WHERE id = ?", id)
	t.Cleanup(func() {
		db.Exec("DROP TABLE " + snap)
		db.Exec("DROP TABLE " + snap + "_v")
	})
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	stale, err := s.Load(ctx, id)
	if err != nil || stale == nil {
		t.Fatal(stale, err)
	}
	// Failover: the replica's copy is the record now.
	exec("DELETE FROM "+vals+" WHERE id = ?", id)
	exec("DELETE FROM "+rows+" WHERE id = ?", id)
	exec("INSERT INTO " + rows + " SELECT * FROM " + snap)
	exec("INSERT INTO " + vals + " SELECT * FROM " + snap + "_v")
	res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version == stale.Version {
		t.Errorf("the write after the failover took the lost write's version %d for other contents", res.Version)
	}
	if err := s.Move(ctx, id, store.Moved{To: newID()}, time.Now().Add(time.Hour), stale.Version); err == nil {
		t.Errorf("a Move checked against the lost write's version passed over the record written after the failover")
	}
})
