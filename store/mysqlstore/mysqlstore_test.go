package mysqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

// lateWritesByServerClock skips the suite's late-write subtest under an
// injected clock: mysqlstore judges a write's deadline by the server's clock
// (SYSDATE(6) inside the write), which the suite cannot move. LateWriteRefused
// and LateAfterLockWait cover it.
var lateWritesByServerClock = storetest.WithSkip("Context/LateWrites")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer starts a MariaDB server with a database "tether" and returns
// the server and a DSN for that database.
func startServer(t testing.TB) (*testserver.MariaDBServer, string) {
	t.Helper()
	srv := testserver.MariaDB(t)
	root := openDB(t, srv.DSN())
	if _, err := root.ExecContext(context.Background(), "CREATE DATABASE IF NOT EXISTS tether"); err != nil {
		t.Fatal(err)
	}
	return srv, strings.TrimSuffix(srv.DSN(), "/mysql") + "/tether"
}

// openDB opens a pool on dsn, closed when the test ends.
func openDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	tb.Cleanup(func() { db.Close() })
	return db
}

// newStore returns a store on tables of their own (unless opts name one),
// closed when the test ends.
func newStore(tb testing.TB, db *sql.DB, opts ...Option) *Store {
	tb.Helper()
	opts = append([]Option{WithTable("sessions_" + randHex(6))}, opts...)
	s, err := New(context.Background(), db, opts...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newID() string { return randHex(32) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createRecord creates a record with one value, live for an hour after now.
func createRecord(t *testing.T, s store.Store, now time.Time) (string, *store.Record) {
	t.Helper()
	id := newID()
	_, err := s.Commit(ctxT(t), id, store.Change{Mode: store.Create, Created: now, LastSeen: now,
		Expires: now.Add(time.Hour), Set: map[string][]byte{"k": []byte("v")}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	rec, err := s.Load(ctxT(t), id)
	if err != nil || rec == nil {
		t.Fatalf("load after create: %v, %v", rec, err)
	}
	return id, rec
}

// TestMariaDB runs everything that needs a healthy server on one server:
// the conformance suite, with the real clock and with a fake one, and the
// backend's own tests. (TestFault has a server of its own, which it stops.)
func TestMariaDB(t *testing.T) {
	_, dsn := startServer(t)
	db := openDB(t, dsn)

	// Another app node on the same table, with a clock of its own.
	node := storetest.WithNode(func(t *testing.T, s store.Store, now func() time.Time) store.Store {
		return newStore(t, db, WithTable(s.(*Store).cfg.table), WithClock(now))
	})
	// One whose DeleteUser runs a write right after the statement that ends
	// the user's sessions.
	during := storetest.WithDuringDeleteUser(func(t *testing.T, s store.Store, now func() time.Time, during func()) store.Store {
		return newStore(t, db, WithTable(s.(*Store).cfg.table), WithClock(now), withAfterEnd(during))
	})
	t.Run("Conformance", func(t *testing.T) {
		s := newStore(t, db)
		storetest.Run(t, func(t *testing.T) store.Store { return s }, node, during)
	})
	t.Run("ConformanceFakeClock", func(t *testing.T) {
		clock := storetest.NewClock(time.Now())
		s := newStore(t, db, WithClock(clock.Now))
		storetest.Run(t, func(t *testing.T) store.Store { return s }, storetest.WithClock(clock.Now, clock.Advance), lateWritesByServerClock, node, during)
	})
	t.Run("ConformanceInterpolateParams", func(t *testing.T) {
		// interpolateParams=true sends every parameter as SQL text instead
		// of the binary protocol: another encoding path for each type.
		s := newStore(t, openDB(t, dsn+"?interpolateParams=true"))
		clock := storetest.NewClock(time.Now())
		s.cfg.now = clock.Now
		storetest.Run(t, func(t *testing.T) store.Store { return s }, storetest.WithClock(clock.Now, clock.Advance), lateWritesByServerClock)
	})
	for _, tc := range backendTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, db, dsn) })
	}
}

// backendTests are the tests of what the conformance suite cannot know
// about: the tables, the reaper, the isolation level. Each gets the shared
// pool and its DSN.
var backendTests []struct {
	name string
	fn   func(t *testing.T, db *sql.DB, dsn string)
}

func backendTest(name string, fn func(t *testing.T, db *sql.DB, dsn string)) bool {
	backendTests = append(backendTests, struct {
		name string
		fn   func(t *testing.T, db *sql.DB, dsn string)
	}{name, fn})
	return true
}
