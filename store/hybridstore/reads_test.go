package hybridstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// env is one remote, a memstore on a fake clock, that several hybrid nodes
// share, with a fake notification bus over it.
type env struct {
	clock *storetest.Clock
	mem   *memstore.Store
	bus   *bus
}

func newEnv(t *testing.T) *env {
	clock := storetest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC))
	mem := memstore.New(memstore.WithClock(clock.Now))
	t.Cleanup(func() { mem.Close() })
	return &env{clock: clock, mem: mem, bus: newBus(mem)}
}

// The ways a hybrid node can keep its entries fresh, by what its remote can
// do.
const (
	notify     = "notify"     // a Notifier (the bus)
	revalidate = "revalidate" // a Versioner (memstore)
	ttl        = "ttl"        // neither
)

var modes = []string{notify, revalidate, ttl}

// node returns a hybrid store over the env's remote, seen through a counting
// wrapper with the capabilities of mode.
func (e *env) node(t *testing.T, mode string, opts ...hybridstore.Option) (*hybridstore.Store, *remote) {
	t.Helper()
	opts = append([]hybridstore.Option{hybridstore.WithClock(e.clock.Now)}, opts...)
	var r *remote
	var s store.Store
	switch mode {
	case notify:
		r = &remote{inner: e.bus}
		s = notifyingRemote{r}
	case revalidate:
		r = &remote{inner: e.mem}
		s = versionedRemote{r}
	default:
		r = &remote{inner: e.mem}
		s = plainRemote{r}
	}
	return newHybrid(t, s, opts...), r
}

// warm creates a session through h and loads it once, so that h has it
// cached and knows the remote's time precision.
func (e *env) warm(t *testing.T, h store.Store, kv ...string) string {
	t.Helper()
	id := newID()
	create(t, h, id, "", e.clock.Now(), kv...)
	// The create's notification, arriving after the load below, would
	// evict what it filled.
	e.bus.settle(t)
	if load(t, h, id) == nil {
		t.Fatal("created session not found")
	}
	return id
}

// A fresh local entry answers without a remote load (with a Versioner
// remote, after a version check only).
func TestHitsCostNoLoad(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			h, r := e.node(t, mode)
			id := e.warm(t, h, "a", "1")
			loads := r.loads.Load()
			for range 100 {
				if v := value(t, h, id, "a"); v != "1" {
					t.Fatalf("a = %q, want 1", v)
				}
			}
			if n := r.loads.Load() - loads; n != 0 {
				t.Errorf("100 reads of a cached session made %d remote loads, want 0", n)
			}
			wantVersions := int64(0)
			if mode == revalidate {
				wantVersions = 100
			}
			if n := r.versions.Load(); n != wantVersions {
				t.Errorf("%d version checks, want %d", n, wantVersions)
			}
			if st := h.Stats(); st.Hits < 100 {
				t.Errorf("Stats.Hits = %d, want at least 100", st.Hits)
			}
		})
	}
}

// Concurrent misses of one ID share one remote load.
func TestConcurrentMissesShareOneLoad(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, notify)
	id := newID()
	create(t, e.bus, id, "", e.clock.Now(), "a", "1")
	// The create's notification would end the shared load: let it pass.
	e.bus.settle(t)

	entered, release := make(chan struct{}), make(chan struct{})
	r.setHold(func(string) {
		entered <- struct{}{}
		<-release
	})
	const n = 10
	var wg sync.WaitGroup
	results := make(chan string, n)
	for range n {
		wg.Go(func() { results <- value(t, h, id, "a") })
	}
	<-entered // the leader has read the remote
	eventually(t, 5*time.Second, "the other misses to join the load", func() bool { return hybridstore.Waiters(h, id) == n-1 })
	r.setHold(nil)
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != "1" {
			t.Errorf("a shared load returned a = %q, want 1", v)
		}
	}
	if got := r.loads.Load(); got != 1 {
		t.Errorf("%d concurrent misses made %d remote loads, want 1", n, got)
	}
	if st := h.Stats(); st.Misses != n || st.Loads != 1 {
		t.Errorf("Stats: %d misses, %d loads; want %d, 1", st.Misses, st.Loads, n)
	}
}

// A waiter whose leader gave up (its context ended) loads by itself instead
// of returning the leader's context error.
func TestSharedLoadOutlivesLeaderContext(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, notify)
	id := newID()
	create(t, e.bus, id, "", e.clock.Now(), "a", "1")
	e.bus.settle(t)

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r.setHold(func(string) {
		once.Do(func() {
			entered <- struct{}{}
			<-release
		})
	})
	leaderCtx, cancel := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := h.Load(leaderCtx, id)
		leaderErr <- err
	}()
	<-entered
	follower := make(chan string, 1)
	go func() { follower <- value(t, h, id, "a") }()
	eventually(t, 5*time.Second, "the follower to join", func() bool { return hybridstore.Waiters(h, id) == 1 })
	// The leader's remote call "fails" with its context.
	cancel()
	r.setHold(func(string) {})
	close(release)
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader: %v, want context.Canceled", err)
	}
	if v := <-follower; v != "1" {
		t.Errorf("follower read a = %q, want 1", v)
	}
	if n := r.loads.Load(); n != 2 {
		t.Errorf("%d remote loads, want 2: the leader's, then the follower's own", n)
	}
}

// A missing record is not cached: a session created elsewhere is visible at
// once.
func TestMissingIsNotCached(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			h, _ := e.node(t, mode)
			id := newID()
			if rec := load(t, h, id); rec != nil {
				t.Fatal("found a session never created")
			}
			create(t, e.bus, id, "", e.clock.Now(), "a", "1") // another node
			if v := value(t, h, id, "a"); v != "1" {
				t.Errorf("after a create elsewhere: a = %q, want 1", v)
			}
		})
	}
}

// A load that races a change of its ID never fills the cache with what it
// read before the change. The remote load is held after it read the old
// value, the change happens, the load is released: the next read must see
// the change.
func TestLoadRacingChange(t *testing.T) {
	changes := []struct {
		name   string
		change func(t *testing.T, e *env, a, b *hybridstore.Store, id string)
		want   string
	}{
		{"NotifiedWrite", func(t *testing.T, e *env, a, b *hybridstore.Store, id string) {
			before := a.Stats().Invalidations
			set(t, b, id, "a", "2")
			eventually(t, 5*time.Second, "the notification", func() bool { return a.Stats().Invalidations > before })
		}, "2"},
		{"LocalWrite", func(t *testing.T, e *env, a, b *hybridstore.Store, id string) {
			set(t, a, id, "a", "2")
		}, "2"},
		{"LocalDelete", func(t *testing.T, e *env, a, b *hybridstore.Store, id string) {
			if err := a.Delete(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}, "<nil>"},
		{"LocalDeleteUser", func(t *testing.T, e *env, a, b *hybridstore.Store, id string) {
			if _, err := a.DeleteUser(context.Background(), "alice"); err != nil {
				t.Fatal(err)
			}
		}, "<ended>"},
		{"MissedWhileSubscriptionDown", func(t *testing.T, e *env, a, b *hybridstore.Store, id string) {
			// The write's notification is lost; only the loss and the
			// re-subscription tell of it.
			e.bus.Drop()
			eventually(t, 5*time.Second, "the loss", func() bool { return a.Stats().Bypassing })
			set(t, b, id, "a", "2")
			e.bus.Restore()
			waitCaching(t, a)
		}, "2"},
	}
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			a, ra := e.node(t, notify)
			b, _ := e.node(t, notify)
			e.warm(t, a) // learn the precision
			id := newID()
			create(t, b, id, "alice", e.clock.Now(), "a", "1")
			e.bus.settle(t)

			entered, release := make(chan struct{}), make(chan struct{})
			ra.setHold(func(string) {
				entered <- struct{}{}
				<-release
			})
			raced := make(chan string, 1)
			go func() { raced <- value(t, a, id, "a") }()
			<-entered
			tc.change(t, e, a, b, id)
			ra.setHold(nil)
			close(release)
			if v := <-raced; v != "1" && v != tc.want {
				t.Errorf("the racing load returned a = %q, want 1 or %s", v, tc.want)
			}
			for range 3 {
				if v := value(t, a, id, "a"); v != tc.want {
					t.Fatalf("after the race: a = %q, want %s (the racing load filled the cache)", v, tc.want)
				}
			}
		})
	}
}

// A done context is an error even for a cached session: the caller gave up.
func TestDoneContextOnHit(t *testing.T) {
	e := newEnv(t)
	h, _ := e.node(t, notify)
	id := e.warm(t, h, "a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Load(ctx, id); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: %v, want context.Canceled", err)
	}
}
