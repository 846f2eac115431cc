package hybridstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/storetest"
)

// crossNodeBound is how soon a write on one node must be visible on another.
const crossNodeBound = time.Second

// node is one application node: a remote store of its own (on its own
// client or pool) behind a counting wrapper, and the hybrid store.
type node struct {
	remote *remote
	h      *hybridstore.Store
}

func newNode(t testing.TB, s store.Store, opts ...hybridstore.Option) *node {
	t.Helper()
	r := &remote{inner: s}
	return &node{remote: r, h: newHybrid(t, fullRemote{notifyingRemote{r}}, opts...)}
}

// newRedisNode returns a node on a client of its own, with the deployment's
// key prefix.
func newRedisNode(t *testing.T, addr, prefix string, opts ...hybridstore.Option) *node {
	t.Helper()
	return newNode(t, newRedisStore(t, newRedisClient(t, addr), prefix), opts...)
}

// TestRedis runs, on one Redis server, the conformance suite over the hybrid
// store and the two-node tests of the issue: two application nodes with
// hybrid stores over one Redis.
func TestRedis(t *testing.T) {
	t.Parallel()
	srv := testserver.Redis(t)
	admin := newRedisClient(t, srv.Addr())

	t.Run("Conformance", func(t *testing.T) {
		h := newHybrid(t, newRedisStore(t, newRedisClient(t, srv.Addr()), ""))
		storetest.Run(t, func(t *testing.T) store.Store { return h })
		checkHits(t, h)
	})

	prefix := "n" + randHex(6) + ":"
	a := newRedisNode(t, srv.Addr(), prefix)
	b := newRedisNode(t, srv.Addr(), prefix)
	now := time.Now

	t.Run("WriteOnAReadOnB", func(t *testing.T) {
		id := newID()
		create(t, a.h, id, "", now(), "a", "1")
		if v := value(t, b.h, id, "a"); v != "1" {
			t.Errorf("B reads a = %q, want 1", v)
		}
		// B has it cached now: A's update reaches it by notification.
		set(t, a.h, id, "a", "2")
		visibleWithin(t, crossNodeBound, func() bool { return value(t, b.h, id, "a") == "2" })
	})

	t.Run("WriteOnBVisibleOnA", func(t *testing.T) {
		id := newID()
		create(t, a.h, id, "", now(), "a", "1")
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
		create(t, a.h, id, "alice", now(), "a", "1")
		warmUp(t, a, id, "1")
		if err := b.h.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		visibleWithin(t, crossNodeBound, func() bool { return load(t, a.h, id) == nil })

		// "Log out everywhere" on B.
		id1, id2 := newID(), newID()
		create(t, a.h, id1, "bob", now(), "a", "1")
		create(t, a.h, id2, "bob", now(), "a", "1")
		warmUp(t, a, id1, "1")
		warmUp(t, a, id2, "1")
		if n, err := b.h.DeleteUser(context.Background(), "bob"); err != nil || n != 2 {
			t.Fatalf("DeleteUser = %d, %v", n, err)
		}
		visibleWithin(t, crossNodeBound, func() bool { return ended(load(t, a.h, id1)) && ended(load(t, a.h, id2)) })
	})

	t.Run("KillPubsub", func(t *testing.T) {
		id := newID()
		create(t, b.h, id, "", now(), "a", "1")
		warmUp(t, a, id, "1")
		flushes := a.h.Stats().Flushes
		if err := admin.Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatal(err)
		}
		afterLostNotifications(t, a, b, id, flushes, "its subscription killed")
	})

	t.Run("StickyReadsCost", func(t *testing.T) {
		id := newID()
		create(t, a.h, id, "", now(), "a", "1")
		warmUp(t, a, id, "1")
		loads := a.remote.loads.Load()
		srv.ResetStats(t)
		for range 100 {
			if v := value(t, a.h, id, "a"); v != "1" {
				t.Fatalf("a = %q", v)
			}
		}
		stats := srv.CommandStats(t)
		total := int64(0)
		for _, n := range stats {
			total += n
		}
		if total > 5 {
			t.Errorf("100 sticky reads sent %d commands to Redis, want at most 5: %v", total, stats)
		}
		if n := a.remote.loads.Load() - loads; n != 0 {
			t.Errorf("100 sticky reads made %d remote loads", n)
		}
		t.Logf("100 sticky reads: Redis commands %v", stats)
	})

	t.Run("StickyRequestsCost", func(t *testing.T) {
		// The same through the session manager and the middleware.
		onA := apptest.New(t, a.h)
		if rec := onA.Do("/set?n=7"); rec.Code != 200 {
			t.Fatalf("set: %d", rec.Code)
		}
		if rec := onA.Do("/read"); rec.Body.String() != "7" {
			t.Fatalf("read: %q", rec.Body.String())
		}
		srv.ResetStats(t)
		for range 100 {
			if rec := onA.Do("/read"); rec.Code != 200 || rec.Body.String() != "7" {
				t.Fatalf("read: %d %q", rec.Code, rec.Body.String())
			}
		}
		stats := srv.CommandStats(t)
		total := int64(0)
		for _, n := range stats {
			total += n
		}
		if total > 5 {
			t.Errorf("100 sticky requests sent %d commands to Redis, want at most 5: %v", total, stats)
		}
		// Routing moves: node B serves the session, from Redis.
		onB := apptest.New(t, b.h)
		onB.Cookie = onA.Cookie
		if rec := onB.Do("/read"); rec.Body.String() != "7" {
			t.Errorf("B reads %q, want 7", rec.Body.String())
		}
		onB.Do("/set?n=8")
		onA.Cookie = onB.Cookie
		visibleWithin(t, crossNodeBound, func() bool { return onA.Do("/read").Body.String() == "8" })
	})

	t.Run("LoadRacingInvalidation", func(t *testing.T) {
		id := newID()
		before := a.h.Stats().Invalidations
		create(t, b.h, id, "", now(), "a", "1")
		// The create's own notification must not be what spoils the load.
		eventually(t, 5*time.Second, "the create's notification on A", func() bool { return a.h.Stats().Invalidations > before })

		entered, release := make(chan struct{}), make(chan struct{})
		a.remote.setHold(func(string) {
			entered <- struct{}{}
			<-release
		})
		raced := make(chan string, 1)
		go func() { raced <- value(t, a.h, id, "a") }()
		<-entered // A's load has read a=1 from Redis, and is held
		before = a.h.Stats().Invalidations
		set(t, b.h, id, "a", "2")
		eventually(t, 5*time.Second, "B's notification on A", func() bool { return a.h.Stats().Invalidations > before })
		a.remote.setHold(nil)
		close(release)
		if v := <-raced; v != "1" {
			t.Errorf("the held load returned a = %q, want what it read, 1", v)
		}
		loads := a.remote.loads.Load()
		if v := value(t, a.h, id, "a"); v != "2" {
			t.Errorf("after the race: a = %q on A, want 2: the held load filled the cache with the old value", v)
		}
		if a.remote.loads.Load() != loads+1 {
			t.Error("the read after the race was not a remote load")
		}
	})
}

// TestRedisDegraded stops Redis under a node in degraded mode: reads are
// served stale within the limit and fail beyond it; writes fail at once.
func TestRedisDegraded(t *testing.T) {
	t.Parallel()
	srv := testserver.Redis(t)
	const limit = 2 * time.Second
	// Fail fast: go-redis would otherwise retry a refused connection until
	// the caller's deadline, and every degraded read would take that long.
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	n := newNode(t, newRedisStore(t, c, ""), hybridstore.WithStaleIfError(limit))
	quick := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	stop := func() {
		srv.Stop()
		// Until the node notices, its entries are fresh as ever (the loss
		// is noticed at once: the connection breaks).
		eventually(t, 5*time.Second, "the node to notice", func() bool { return n.h.Stats().Bypassing })
	}

	id := newID()
	create(t, n.h, id, "", time.Now(), "a", "1")
	warmUp(t, n, id, "1")
	loaded := time.Now()
	stop()
	for range 3 {
		rec, err := n.h.Load(quick(), id)
		if err != nil || string(rec.Values.Get("a")) != "1" {
			t.Fatalf("Redis down, within the stale limit: %v, %v; want the stale record; %+v", rec, err, n.h.Stats())
		}
	}
	if _, err := n.h.Commit(quick(), id, store.Change{Mode: store.Update, Set: vals("b", "2")}); err == nil {
		t.Error("Commit with Redis down succeeded")
	}
	if rec, err := n.h.Load(quick(), id); err != nil || rec.Values.Get("b") != nil {
		t.Errorf("after a failed Commit: %v, %v; want the stale record, without the change", rec, err)
	}
	time.Sleep(time.Until(loaded.Add(limit + 50*time.Millisecond)))
	if rec, err := n.h.Load(quick(), id); err == nil {
		t.Errorf("past the stale limit: %v, want an error", rec)
	}
	if st := n.h.Stats(); st.StaleServes != 4 || st.RemoteErrors < 5 {
		t.Errorf("Stats: %+v, want 4 stale serves and 5 remote errors", st)
	}

	// A failed Delete may have happened: its entry is never served stale.
	srv.Start()
	waitCaching(t, n.h)
	id = newID()
	create(t, n.h, id, "", time.Now(), "a", "1")
	warmUp(t, n, id, "1")
	stop()
	if err := n.h.Delete(quick(), id); err == nil {
		t.Error("Delete with Redis down succeeded")
	}
	if rec, err := n.h.Load(quick(), id); err == nil {
		t.Errorf("after a failed Delete: %v, want an error, not the stale record", rec)
	}
}

// warmUp waits for the notifications of the writes made so far, then reads
// id on n until it is served from memory with a = want.
func warmUp(t *testing.T, n *node, id, want string) {
	t.Helper()
	settle(t, n.remote.inner, n.remote)
	eventually(t, 5*time.Second, "the session to be cached", func() bool {
		if value(t, n.h, id, "a") != want {
			return false
		}
		hits := n.h.Stats().Hits
		return value(t, n.h, id, "a") == want && n.h.Stats().Hits == hits+1
	})
}

// visibleWithin polls cond until it holds, failing the test if that takes
// longer than d, and returns how long it took.
func visibleWithin(t *testing.T, d time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("not visible within %v", d)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// afterLostNotifications checks node a just after its notifications were cut
// (how: for messages): B writes at once, so its notification is lost to A.
// A must never serve the old value past crossNodeBound, must serve the new
// one, must flush twice (the loss and the re-subscription), and then cache
// and be invalidated again on the new subscription. flushes is A's count
// before the cut.
func afterLostNotifications(t *testing.T, a, b *node, id string, flushes uint64, how string) {
	t.Helper()
	set(t, b.h, id, "a", "2")
	wrote := time.Now()
	sawNew := false
	for time.Since(wrote) < crossNodeBound+500*time.Millisecond {
		v := value(t, a.h, id, "a")
		if v == "1" && time.Since(wrote) > crossNodeBound {
			t.Fatalf("A served the old value %v after B's write, with %s", time.Since(wrote), how)
		}
		sawNew = sawNew || v == "2"
		time.Sleep(2 * time.Millisecond)
	}
	if !sawNew {
		t.Error("A never served B's write")
	}
	if n := a.h.Stats().Flushes - flushes; n < 2 {
		t.Errorf("A flushed %d times after the cut (%s), want 2 (the loss and the re-subscription)", n, how)
	}
	waitCaching(t, a.h)
	warmUp(t, a, id, "2")
	set(t, b.h, id, "a", "3")
	visibleWithin(t, crossNodeBound, func() bool { return value(t, a.h, id, "a") == "3" })
}
