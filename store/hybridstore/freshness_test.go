package hybridstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/storetest"
)

// A write on another node is seen at once by a node on notifications, after
// the notification.
func TestNotifiedWriteEvicts(t *testing.T) {
	e := newEnv(t)
	a, _ := e.node(t, notify)
	b, _ := e.node(t, notify)
	id := e.warm(t, a, "a", "1")
	set(t, b, id, "a", "2")
	e.bus.settle(t)
	if v := value(t, a, id, "a"); v != "2" {
		t.Errorf("after a write on b: a = %q on a, want 2", v)
	}
	if err := b.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	e.bus.settle(t)
	if rec := load(t, a, id); rec != nil {
		t.Error("a still serves a session b deleted")
	}
}

// The echo of a node's own write is absorbed whether it arrives before the
// remote's reply or after it; a foreign write still evicts.
func TestOwnEchoAbsorbed(t *testing.T) {
	t.Run("EchoBeforeReply", func(t *testing.T) {
		e := newEnv(t)
		r := &remote{inner: echoFirst{e.bus, t}}
		a := newHybrid(t, notifyingRemote{r}, hybridstore.WithClock(e.clock.Now))
		id := e.warm(t, a, "a", "1")
		loads := r.loads.Load()
		res := set(t, a, id, "a", "2")
		if rec := load(t, a, id); rec.Version != res.Version || r.loads.Load() != loads {
			t.Errorf("after a write whose echo came first: version %d with %d loads, want %d from memory", rec.Version, r.loads.Load()-loads, res.Version)
		}
	})
	t.Run("EchoAfterReply", func(t *testing.T) {
		e := newEnv(t)
		a, ra := e.node(t, notify)
		b, _ := e.node(t, notify)
		id := e.warm(t, a, "a", "1")
		e.bus.Pause()
		set(t, a, id, "a", "2")
		loads := ra.loads.Load()
		if v := value(t, a, id, "a"); v != "2" || ra.loads.Load() != loads {
			t.Errorf("after a write: a = %q with %d loads, want 2 from memory", v, ra.loads.Load()-loads)
		}
		set(t, b, id, "a", "3") // announced after a's write
		e.bus.Resume()
		e.bus.settle(t)
		if v := value(t, a, id, "a"); v != "3" {
			t.Errorf("after b's later write: a = %q on a, want 3 (a's echo absorbed b's event)", v)
		}
	})
}

// echoFirst replies to a commit only once the bus delivered its
// announcement: the echo arrives before the reply.
type echoFirst struct {
	*bus
	t *testing.T
}

func (f echoFirst) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := f.bus.Commit(ctx, id, c)
	f.bus.settle(f.t)
	return res, err
}

// A write by another node lands while this node's own write is in flight
// (after it counted its echo): the foreign event is absorbed in place of the
// echo, but the entry is not served meanwhile, and the write, finding the
// entry at a version below the one its commit applied to, evicts it.
func TestForeignWriteDuringOwnWrite(t *testing.T) {
	e := newEnv(t)
	a, ra := e.node(t, notify)
	b, _ := e.node(t, notify)
	id := e.warm(t, a, "a", "1")

	entered, release := make(chan struct{}), make(chan struct{})
	ra.setHoldCommit(func(string) {
		entered <- struct{}{}
		<-release
	})
	done := make(chan error, 1)
	go func() {
		_, err := a.Commit(context.Background(), id, store.Change{Mode: store.Update, Set: vals("mine", "x")})
		done <- err
	}()
	<-entered
	set(t, b, id, "theirs", "y")
	e.bus.settle(t)
	// While a's write is in flight, a reads through.
	if v := value(t, a, id, "theirs"); v != "y" {
		t.Errorf("during a's write: theirs = %q on a, want y", v)
	}
	ra.setHoldCommit(nil)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e.bus.settle(t)
	rec := load(t, a, id)
	if string(rec.Values.Get("mine")) != "x" || string(rec.Values.Get("theirs")) != "y" {
		t.Errorf("after both writes: %q, want mine=x theirs=y", rec.Values)
	}
	set(t, b, id, "later", "z")
	e.bus.settle(t)
	if v := value(t, a, id, "later"); v != "z" {
		t.Errorf("a later write on b is not seen on a: later = %q", v)
	}
}

// Until the first Reset and from a Lost to the next Reset, reads pass
// through; a Reset flushes, and caching resumes.
func TestLostBypassesUntilReset(t *testing.T) {
	e := newEnv(t)
	a, ra := e.node(t, notify)
	b, _ := e.node(t, notify)
	id := e.warm(t, a, "a", "1")

	e.bus.Drop()
	eventually(t, 5*time.Second, "the loss", func() bool { return a.Stats().Bypassing })
	set(t, b, id, "a", "2") // its announcement is lost
	loads := ra.loads.Load()
	for range 3 {
		if v := value(t, a, id, "a"); v != "2" {
			t.Fatalf("while notifications are down: a = %q, want 2", v)
		}
	}
	if n := ra.loads.Load() - loads; n != 3 {
		t.Errorf("3 reads while bypassing made %d remote loads, want 3", n)
	}
	set(t, a, id, "a", "3") // a write does not cache either
	if v := value(t, a, id, "a"); v != "3" {
		t.Fatalf("a = %q, want 3", v)
	}

	e.bus.Restore()
	waitCaching(t, a)
	loads = ra.loads.Load()
	for range 3 {
		if v := value(t, a, id, "a"); v != "3" {
			t.Fatalf("after the Reset: a = %q, want 3", v)
		}
	}
	if n := ra.loads.Load() - loads; n != 1 {
		t.Errorf("3 reads after the Reset made %d remote loads, want 1", n)
	}
	if st := a.Stats(); st.Flushes != 3 { // the first Reset, the Lost, the Reset
		t.Errorf("Stats.Flushes = %d, want 3", st.Flushes)
	}
}

// A local entry is never served at or past its record's expiry, nor longer
// than the maximum age, by the hybrid's clock. The remote runs on the real
// clock, under which the record stays live: only the hybrid's own checks can
// send a read there.
func TestExpiryAndMaxAge(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	mem := memstore.New()
	t.Cleanup(func() { mem.Close() })
	r := &remote{inner: newBus(mem)}
	h := newHybrid(t, notifyingRemote{r}, hybridstore.WithClock(clock.Now), hybridstore.WithMaxAge(30*time.Minute))

	id := newID()
	start := clock.Now()
	c := store.Change{Mode: store.Create, Created: start, LastSeen: start, Expires: start.Add(time.Hour)}
	if _, err := mem.Commit(context.Background(), id, c); err != nil {
		t.Fatal(err)
	}
	step := func(advance time.Duration, wantLoads int64, why string) {
		t.Helper()
		clock.Advance(advance)
		if rec := load(t, h, id); rec == nil {
			t.Fatalf("%s: no record", why)
		}
		if n := r.loads.Load(); n != wantLoads {
			t.Errorf("%s: %d remote loads in all, want %d", why, n, wantLoads)
		}
	}
	step(0, 1, "first read")
	step(29*time.Minute, 1, "29 minutes later")
	step(time.Minute, 2, "at the maximum age")
	step(29*time.Minute, 2, "a minute before expiry")
	step(time.Minute, 3, "at expiry")
	step(0, 4, "after expiry (not cached)")
}

// The unsupported-notifier fallback: a Notifier whose Notify reports
// store.ErrUnsupported (pgstore with notifications off) is used like a
// Versioner.
func TestUnsupportedNotifierFallsBack(t *testing.T) {
	e := newEnv(t)
	r := &remote{inner: e.mem}
	h := newHybrid(t, unsupportedNotifier{versionedRemote{r}}, hybridstore.WithClock(e.clock.Now))
	id := e.warm(t, h, "a", "1")
	versions := r.versions.Load()
	if v := value(t, h, id, "a"); v != "1" {
		t.Fatalf("a = %q", v)
	}
	if n := r.versions.Load() - versions; n != 1 {
		t.Errorf("a hit made %d version checks, want 1 (revalidation)", n)
	}
}

type unsupportedNotifier struct{ versionedRemote }

func (unsupportedNotifier) Notify(ctx context.Context, fn func(store.Event)) error {
	return errors.Join(errors.New("test: notifications off"), store.ErrUnsupported)
}

// With a Versioner remote every hit is checked against the remote's version,
// so a write elsewhere is seen at once; WithLocalTTL trades that for up to
// the TTL of staleness.
func TestRevalidation(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		e := newEnv(t)
		a, ra := e.node(t, revalidate)
		b, _ := e.node(t, revalidate)
		id := e.warm(t, a, "a", "1")
		set(t, b, id, "a", "2")
		loads := ra.loads.Load()
		if v := value(t, a, id, "a"); v != "2" {
			t.Errorf("after b's write: a = %q on a, want 2", v)
		}
		if n := ra.loads.Load() - loads; n != 1 {
			t.Errorf("a revalidation that failed made %d loads, want 1", n)
		}
		if err := b.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		if rec := load(t, a, id); rec != nil {
			t.Error("a serves a session b deleted")
		}
	})
	t.Run("LocalTTL", func(t *testing.T) {
		e := newEnv(t)
		a, ra := e.node(t, revalidate, hybridstore.WithLocalTTL(time.Second))
		b, _ := e.node(t, revalidate)
		id := e.warm(t, a, "a", "1")
		set(t, b, id, "a", "2")
		if v := value(t, a, id, "a"); v != "1" {
			t.Errorf("within the local TTL: a = %q, want the stale 1 (the documented trade)", v)
		}
		if n := ra.versions.Load(); n != 0 {
			t.Errorf("%d version checks within the local TTL, want 0", n)
		}
		e.clock.Advance(time.Second)
		if v := value(t, a, id, "a"); v != "2" {
			t.Errorf("after the local TTL: a = %q, want 2", v)
		}
		if n := ra.versions.Load(); n != 1 {
			t.Errorf("%d version checks after the local TTL, want 1", n)
		}
	})
}

// With a remote that can neither notify nor answer versions, entries are
// trusted for the local TTL (500 ms by default), then loaded again.
func TestLocalTTL(t *testing.T) {
	e := newEnv(t)
	a, ra := e.node(t, ttl)
	b, _ := e.node(t, ttl)
	id := e.warm(t, a, "a", "1")
	set(t, b, id, "a", "2")
	e.clock.Advance(hybridstore.DefaultLocalTTL - time.Millisecond)
	if v := value(t, a, id, "a"); v != "1" {
		t.Errorf("within the TTL: a = %q, want the stale 1", v)
	}
	loads := ra.loads.Load()
	e.clock.Advance(time.Millisecond)
	if v := value(t, a, id, "a"); v != "2" {
		t.Errorf("at the TTL: a = %q, want 2", v)
	}
	if n := ra.loads.Load() - loads; n != 1 {
		t.Errorf("%d loads at the TTL, want 1", n)
	}
}
