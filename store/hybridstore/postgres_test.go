package hybridstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/pgstore"
	"github.com/tether-go/tether/store/storetest"
)

// TestPostgres runs, on one Postgres server, the conformance suite over the
// hybrid store (real and fake clock) and the two-node tests: two application
// nodes, each with its own pool, over one table, kept fresh by NOTIFY.
func TestPostgres(t *testing.T) {
	t.Parallel()
	pg := testserver.Postgres(t)
	pool := newPool(t, pg)

	t.Run("Conformance", func(t *testing.T) {
		h := newHybrid(t, newPGStore(t, pool, ""))
		storetest.Run(t, func(t *testing.T) store.Store { return h })
		checkHits(t, h)
	})
	t.Run("ConformanceFakeClock", func(t *testing.T) {
		clock := storetest.NewClock(time.Now())
		h := newHybrid(t, newPGStore(t, pool, "", pgstore.WithClock(clock.Now)), hybridstore.WithClock(clock.Now))
		// pgstore judges deadlines by the database's clock, which the
		// suite cannot move: its own tests cover late writes.
		storetest.Run(t, func(t *testing.T) store.Store { return h }, storetest.WithClock(clock.Now, clock.Advance),
			storetest.WithSkip("Context/LateWrites"))
		checkHits(t, h)
	})

	table := "n_" + randHex(6)
	a := newNode(t, newPGStore(t, newPool(t, pg), table))
	b := newNode(t, newPGStore(t, newPool(t, pg), table))

	t.Run("WriteOnBVisibleOnA", func(t *testing.T) {
		id := newID()
		create(t, a.h, id, "", time.Now(), "a", "1")
		if v := value(t, b.h, id, "a"); v != "1" {
			t.Errorf("B reads a = %q, want 1", v)
		}
		warmUp(t, a, id, "1")
		for i := 2; i < 12; i++ {
			want := strconv.Itoa(i)
			set(t, b.h, id, "a", want)
			took := visibleWithin(t, crossNodeBound, func() bool { return value(t, a.h, id, "a") == want })
			if i == 2 {
				t.Logf("B's write visible on A after %v", took)
			}
		}
	})

	t.Run("LogoutOnBHonouredOnA", func(t *testing.T) {
		id := newID()
		create(t, a.h, id, "alice", time.Now(), "a", "1")
		warmUp(t, a, id, "1")
		if err := b.h.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		visibleWithin(t, crossNodeBound, func() bool { return load(t, a.h, id) == nil })
	})

	t.Run("TerminateListen", func(t *testing.T) {
		id := newID()
		create(t, b.h, id, "", time.Now(), "a", "1")
		warmUp(t, a, id, "1")
		flushes := a.h.Stats().Flushes
		var killed int
		err := pool.QueryRow(t.Context(),
			`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query ILIKE 'listen %' AND pid <> pg_backend_pid()`).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		if killed < 2 {
			t.Fatalf("terminated %d LISTEN connections, want both nodes' (and the conformance stores')", killed)
		}
		afterLostNotifications(t, a, b, id, flushes, "its LISTEN connection terminated")
	})

	t.Run("NotificationsOff", func(t *testing.T) {
		// pgstore without NOTIFY: its Notify reports ErrUnsupported, and
		// the hybrid store revalidates with versions instead.
		table := "off_" + randHex(6)
		a := newNode(t, newPGStore(t, pool, table, pgstore.WithNotify(false)))
		b := newNode(t, newPGStore(t, pool, table, pgstore.WithNotify(false)))
		waitCaching(t, a.h)
		id := newID()
		create(t, a.h, id, "", time.Now(), "a", "1")
		load(t, a.h, id)
		set(t, b.h, id, "a", "2")
		if v := value(t, a.h, id, "a"); v != "2" {
			t.Errorf("without notifications: a = %q on A, want 2 (revalidated)", v)
		}
		if st := a.h.Stats(); st.Revalidations == 0 {
			t.Errorf("no revalidation: %+v", st)
		}
	})
}
