package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newPool returns a pool on pg, closed when the test ends.
func newPool(tb testing.TB, pg *testserver.PostgresServer) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(pg.DSN())
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// newStore returns a store on a table of its own (unless opts name one),
// closed when the test ends.
func newStore(tb testing.TB, pool *pgxpool.Pool, opts ...Option) *Store {
	tb.Helper()
	opts = append([]Option{WithTable("sessions_" + randHex(6))}, opts...)
	s, err := New(context.Background(), pool, opts...)
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

// TestPostgres runs everything that needs a healthy server on one server:
// the conformance suite, with the real clock and with a fake one, and the
// backend's own tests. (TestFault has a server of its own, which it stops.)
// lateWritesByDBClock skips the suite's late-write subtest under an injected
// clock: pgstore judges a write's deadline by the database's clock
// (clock_timestamp() inside the statement), which the suite cannot move.
// TestLateWriteAfterStall and LateWriteRefusedByServerClock cover it.
var lateWritesByDBClock = storetest.WithSkip("Context/LateWrites")

func TestPostgres(t *testing.T) {
	pg := testserver.Postgres(t)
	pool := newPool(t, pg)

	// Another app node on the same table, with a clock of its own.
	node := storetest.WithNode(func(t *testing.T, s store.Store, now func() time.Time) store.Store {
		return newStore(t, pool, WithTable(s.(*Store).cfg.table), WithClock(now))
	})
	t.Run("Conformance", func(t *testing.T) {
		s := newStore(t, pool)
		storetest.Run(t, func(t *testing.T) store.Store { return s }, node)
	})
	t.Run("ConformanceFakeClock", func(t *testing.T) {
		clock := storetest.NewClock(time.Now())
		s := newStore(t, pool, WithClock(clock.Now))
		storetest.Run(t, func(t *testing.T) store.Store { return s }, storetest.WithClock(clock.Now, clock.Advance), lateWritesByDBClock, node)
	})
	t.Run("ConformanceNotifyOff", func(t *testing.T) {
		// The statements without pg_notify are other statements.
		clock := storetest.NewClock(time.Now())
		s := newStore(t, pool, WithClock(clock.Now), WithNotify(false))
		storetest.Run(t, func(t *testing.T) store.Store { return s }, storetest.WithClock(clock.Now, clock.Advance),
			storetest.WithSkip("Capabilities/Notifier"), lateWritesByDBClock)
	})
	t.Run("ConformanceSimpleProtocol", func(t *testing.T) {
		// Behind PgBouncer in transaction mode, pools are configured for
		// the simple protocol: every parameter is then interpolated as
		// text, a different encoding path for each type the store sends.
		cfg := pool.Config()
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		simple, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(simple.Close)
		clock := storetest.NewClock(time.Now())
		s := newStore(t, simple, WithClock(clock.Now))
		storetest.Run(t, func(t *testing.T) store.Store { return s }, storetest.WithClock(clock.Now, clock.Advance), lateWritesByDBClock)
		if _, err := s.reap(t.Context()); err != nil {
			t.Errorf("reap: %v", err)
		}
	})
	for _, tc := range backendTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, pool) })
	}
}

// backendTests are the tests of what the conformance suite cannot know about:
// the table, the reaper, the listener. Each gets the shared pool.
var backendTests []struct {
	name string
	fn   func(t *testing.T, pool *pgxpool.Pool)
}

func backendTest(name string, fn func(t *testing.T, pool *pgxpool.Pool)) bool {
	backendTests = append(backendTests, struct {
		name string
		fn   func(t *testing.T, pool *pgxpool.Pool)
	}{name, fn})
	return true
}
