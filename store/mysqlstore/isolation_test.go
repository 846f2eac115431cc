package mysqlstore

import (
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// writers is how many goroutines write at once in the concurrency tests.
const writers = 100

// concurrentWrites runs writers goroutines against s: each creates a session
// of its own and sets a key of its own on one shared session, and then
// checks that nothing was lost.
func concurrentWrites(t *testing.T, s *Store) {
	t.Helper()
	ctx := ctxT(t)
	shared, _ := createRecord(t, s, time.Now())
	ids := make([]string, writers)
	errs := make(chan error, 2*writers)
	var wg sync.WaitGroup
	for i := range writers {
		ids[i] = newID()
		wg.Go(func() {
			now := time.Now()
			_, err := s.Commit(ctx, ids[i], store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
				Set: map[string][]byte{"n": fmt.Appendf(nil, "%d", i)}, UserID: "u" + ids[i][:8]})
			if err != nil {
				errs <- fmt.Errorf("create %d: %w", i, err)
			}
			_, err = s.Commit(ctx, shared, store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprintf("k%03d", i): []byte("x")}})
			if err != nil {
				errs <- fmt.Errorf("update %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rec, err := s.Load(ctx, shared)
	if err != nil || rec == nil {
		t.Fatalf("load shared: %v, %v", rec, err)
	}
	// Every write raised the version, by a random step of at least one.
	if rec.Values.Len() != writers+1 || rec.Version < writers+1 {
		t.Errorf("shared session has %d values at version %d, want %d at %d or more", rec.Values.Len(), rec.Version, writers+1, writers+1)
	}
	for i, id := range ids {
		if rec, err := s.Load(ctx, id); err != nil || rec == nil || string(rec.Values.Get("n")) != fmt.Sprint(i) {
			t.Errorf("session %d: %+v, %v", i, rec, err)
		}
	}
}

// 100 concurrent disjoint writes lose nothing, under every isolation level a
// server or session may default to: the store pins its transactions to READ
// COMMITTED. (Under REPEATABLE READ, InnoDB's default, the Creates' locking
// reads of missing rows take gap locks that their INSERTs then wait for
// crosswise: deadlocks, which retries do not reliably outlast.)
var _ = backendTest("ConcurrentDisjointWrites", func(t *testing.T, _ *sql.DB, dsn string) {
	for _, level := range []string{"REPEATABLE-READ", "SERIALIZABLE", "READ-COMMITTED"} {
		t.Run(level, func(t *testing.T) {
			db := openDB(t, dsn+"?tx_isolation=%27"+level+"%27")
			db.SetMaxOpenConns(writers)
			var got string
			if err := db.QueryRowContext(ctxT(t), "SELECT @@tx_isolation").Scan(&got); err != nil || got != level {
				t.Fatalf("session isolation %q, %v; want %s", got, err, level)
			}
			concurrentWrites(t, newStore(t, db))
		})
	}
})
