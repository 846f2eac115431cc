package pgstore

import (
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// Postgres behind an asynchronous standby (a common Patroni or managed
// replica failover) loses commits it acknowledged, as Redis does across a
// failover: the next write must not reuse the lost write's version, or the
// rotation's Move, checked against the version a request loaded from the
// lost write, passes over the newer record and copies the lost values (a
// review of a4e3a05, which fixed this for Redis only). The failover is
// played by copying the row back as it was before the lost commit.
func TestMoveAfterLostWrite(t *testing.T) {
	pg := testserver.Postgres(t)
	pool := newPool(t, pg)
	table := "sessions_" + randHex(6)
	s := newStore(t, pool, WithTable(table))
	ctx := ctxT(t)
	id := newID()
	now := time.Now()
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"n": []byte("0")}}); err != nil {
		t.Fatal(err)
	}
	snap := table + "_snap"
	if _, err := pool.Exec(ctx, `CREATE TABLE `+snap+` AS SELECT * FROM `+table+` WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	stale, err := s.Load(ctx, id)
	if err != nil || stale == nil {
		t.Fatal(stale, err)
	}
	// Failover: the standby's copy of the row is the row now.
	if _, err := pool.Exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO `+table+` SELECT * FROM `+snap+` WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"kept": []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version == stale.Version {
		t.Errorf("the write after the failover took the lost write's version %d for other contents", res.Version)
	}
	err = s.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Hour), stale.Version)
	if err == nil {
		t.Errorf("a Move checked against the lost write's version passed over the record written after the failover: the rotation copies the lost values and drops the new ones")
	}
}
