package hybridstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
)

// In degraded mode a down remote's reads are answered from local entries the
// remote confirmed at most the stale limit ago; past it, and for writes, the
// remote's error comes back.
func TestStaleIfError(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			h, r := e.node(t, mode, hybridstore.WithStaleIfError(10*time.Second), hybridstore.WithMaxAge(time.Second))
			id := e.warm(t, h, "a", "1")
			// Past the freshness of every mode: each read asks the remote.
			e.clock.Advance(time.Second)
			r.down.Store(true)

			if v := value(t, h, id, "a"); v != "1" {
				t.Errorf("remote down, entry 1 s old: a = %q, want the stale 1", v)
			}
			if st := h.Stats(); st.StaleServes != 1 || st.RemoteErrors == 0 {
				t.Errorf("Stats: %d stale serves, %d remote errors; want 1, >0", st.StaleServes, st.RemoteErrors)
			}
			if _, err := h.Commit(context.Background(), id, store.Change{Mode: store.Update, Set: vals("b", "2")}); !errors.Is(err, errDown) {
				t.Errorf("Commit with the remote down: %v, want errDown", err)
			}
			now := e.clock.Now()
			if err := h.Touch(context.Background(), id, now, now.Add(time.Hour)); !errors.Is(err, errDown) {
				t.Errorf("Touch with the remote down: %v, want errDown", err)
			}
			// A failed commit or touch does not take the stale copy away...
			if v := value(t, h, id, "a"); v != "1" {
				t.Errorf("after failed writes: a = %q, want the stale 1", v)
			}
			// ...but the stale limit does.
			e.clock.Advance(9*time.Second + 1)
			if _, err := h.Load(context.Background(), id); !errors.Is(err, errDown) {
				t.Errorf("remote down, entry past the stale limit: Load: %v, want errDown", err)
			}
			// The remote is back: fresh data again.
			r.down.Store(false)
			if v := value(t, h, id, "a"); v != "1" {
				t.Errorf("remote back: a = %q, want 1", v)
			}
		})
	}
}

// Without the option, a down remote is an error even for a cached session
// that is not fresh.
func TestNoStaleWithoutOption(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, ttl)
	id := e.warm(t, h, "a", "1")
	e.clock.Advance(time.Second)
	r.down.Store(true)
	if _, err := h.Load(context.Background(), id); !errors.Is(err, errDown) {
		t.Errorf("Load from a down remote: %v, want errDown", err)
	}
}

// A remote outage usually drops the notifications too (the subscription is a
// connection to the same server): in degraded mode the entries survive the
// loss, for degraded reads only.
func TestStaleIfErrorAcrossLost(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, notify, hybridstore.WithStaleIfError(10*time.Second))
	id := e.warm(t, h, "a", "1")
	e.bus.Drop()
	eventually(t, 5*time.Second, "the loss", func() bool { return h.Stats().Bypassing })
	r.down.Store(true)
	if v := value(t, h, id, "a"); v != "1" {
		t.Errorf("remote and notifications down: a = %q, want the stale 1", v)
	}
	// While notifications are down and the remote is up, reads pass through
	// and refresh the degraded copy.
	r.down.Store(false)
	set(t, e.mem, id, "a", "2")
	if v := value(t, h, id, "a"); v != "2" {
		t.Fatalf("a = %q, want 2", v)
	}
	r.down.Store(true)
	if v := value(t, h, id, "a"); v != "2" {
		t.Errorf("remote down again: a = %q, want the refreshed stale 2", v)
	}
}

// A session that is gone by the remote's last word is never served stale.
func TestStaleNeverResurrects(t *testing.T) {
	e := newEnv(t)
	h, r := e.node(t, ttl, hybridstore.WithStaleIfError(time.Minute))
	id := e.warm(t, h, "a", "1")
	if err := h.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	r.down.Store(true)
	if rec, err := h.Load(context.Background(), id); rec != nil || !errors.Is(err, errDown) {
		t.Errorf("deleted session with the remote down: %v, %v; want nil, errDown", rec, err)
	}
	// Nor one that expired.
	r.down.Store(false)
	id = e.warm(t, h, "a", "1")
	e.clock.Advance(time.Hour)
	r.down.Store(true)
	if rec, _ := h.Load(context.Background(), id); rec != nil {
		t.Error("expired session served stale")
	}
}

// The cache stays within its byte bound, evicting (and counting) as it must.
func TestMaxBytes(t *testing.T) {
	e := newEnv(t)
	const max = 64 << 10
	h, _ := e.node(t, ttl, hybridstore.WithMaxBytes(max))
	big := string(make([]byte, 1000))
	for i := range 200 {
		id := newID()
		create(t, e.mem, id, "", e.clock.Now(), "v", big, "i", fmt.Sprint(i))
		load(t, h, id)
	}
	// Each entry weighs over 1,300 bytes (the value, the ID, the estimated
	// overhead): at most 49 fit. The cache applies its bound asynchronously.
	eventually(t, 5*time.Second, "the cache to shrink to its bound", func() bool {
		st := h.Stats()
		return st.Bytes <= max && st.Entries <= 49
	})
	if st := h.Stats(); st.Evictions < 200-49 || st.Entries == 0 {
		t.Errorf("after 200 records of 1 KB into 64 KiB: %+v", st)
	}
	// A record larger than the whole cache is served, and not kept.
	id := newID()
	create(t, e.mem, id, "", e.clock.Now(), "v", string(make([]byte, 2*max)))
	if rec := load(t, h, id); rec == nil || len(rec.Values.Get("v")) != 2*max {
		t.Error("a huge record did not come back whole")
	}
	eventually(t, 5*time.Second, "the cache to shrink to its bound", func() bool { return h.Stats().Bytes <= max })
}

// Close stops the notification goroutine (goleak checks every test, and this
// one on its own), is idempotent, leaves the remote open, and turns the store
// into a pass-through.
func TestClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	mem := memstore.New()
	defer mem.Close()
	r := &remote{inner: newBus(mem)}
	h := hybridstore.New(notifyingRemote{r})
	waitCaching(t, h)
	id := newID()
	create(t, h, id, "", time.Now(), "a", "1")
	load(t, h, id)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	loads := r.loads.Load()
	for range 3 {
		if v := value(t, h, id, "a"); v != "1" {
			t.Fatalf("after Close: a = %q, want 1", v)
		}
	}
	if n := r.loads.Load() - loads; n != 3 {
		t.Errorf("3 reads after Close made %d remote loads, want 3 (no caching)", n)
	}
	if err := mem.Ping(context.Background()); err != nil {
		t.Errorf("remote closed by the hybrid's Close: %v", err)
	}
}

// Ping asks the remote if it can; a remote without Pinger is assumed up.
func TestPing(t *testing.T) {
	mem := memstore.New()
	withPing := newHybrid(t, mem)
	without := newHybrid(t, plainRemote{&remote{inner: mem}})
	ctx := context.Background()
	if err := withPing.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := without.Ping(ctx); err != nil {
		t.Errorf("Ping of a remote without Pinger: %v", err)
	}
	mem.Close()
	if err := withPing.Ping(ctx); !errors.Is(err, memstore.ErrClosed) {
		t.Errorf("Ping of a closed remote: %v, want memstore.ErrClosed", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := without.Ping(done); !errors.Is(err, context.Canceled) {
		t.Errorf("Ping with a done context: %v", err)
	}
}
