package tetherprom_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	tetherprom "github.com/tether-go/tether/metrics/prometheus"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/redisstore"
)

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two nodes, each a hybrid store over one real Redis: the hybrid counters of
// node A move with its hits and misses, with invalidations of node B's
// writes, and with the flush and remote errors of an outage; the exported
// values are the store's own Stats.
func TestHybridCountersOnRedis(t *testing.T) {
	srv := testserver.Redis(t)
	node := func() *hybridstore.Store {
		rdb := redis.NewClient(&redis.Options{
			Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1,
			// One dial, so that a stopped server fails as refused rather
			// than at the store timeout: the hybrid store does not count a
			// call that ran out of its caller's deadline as a remote error.
			DialerRetries: 1,
			DialTimeout:   100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		})
		t.Cleanup(func() { rdb.Close() })
		rs := redisstore.New(rdb, redisstore.WithPolicyCheck(false))
		t.Cleanup(func() { rs.Close() })
		hs := hybridstore.New(rs)
		t.Cleanup(func() { hs.Close() })
		waitFor(t, "the hybrid store's subscription", func() bool { return !hs.Stats().Bypassing })
		return hs
	}
	hsA := node()
	hsB := node()

	c := tetherprom.New(tetherprom.WithHybrid("sessions", hsA))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	newManager := func(hs *hybridstore.Store, obs session.Observer) *session.Manager {
		opts := []session.Option{
			session.WithStore(hs),
			session.WithStoreTimeout(300 * time.Millisecond),
			session.WithLogger(slog.New(slog.DiscardHandler)),
		}
		if obs != nil {
			opts = append(opts, session.WithObserver(obs))
		}
		m, err := session.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a := newApp(t, newManager(hsA, c))
	b := newApp(t, newManager(hsB, nil))

	const (
		hits   = `tether_hybrid_hits_total{store="sessions"}`
		misses = `tether_hybrid_misses_total{store="sessions"}`
		loads  = `tether_hybrid_loads_total{store="sessions"}`
		inval  = `tether_hybrid_invalidations_total{store="sessions"}`
		flush  = `tether_hybrid_flushes_total{store="sessions"}`
		errs   = `tether_hybrid_remote_errors_total{store="sessions"}`
		bypass = `tether_hybrid_bypassing{store="sessions"}`
		local  = `tether_session_loads_total{result="hit",source="local"}`
		remote = `tether_session_loads_total{result="hit",source="remote"}`
		unkn   = `tether_session_loads_total{result="hit",source="unknown"}`
	)
	// exported checks that a scrape shows the store's own Stats.
	exported := func(s samples) {
		t.Helper()
		st := hsA.Stats()
		for name, v := range map[string]uint64{hits: st.Hits, misses: st.Misses, loads: st.Loads} {
			if s[name] != float64(v) {
				t.Errorf("%s = %v, Stats says %d", name, s[name], v)
			}
		}
	}

	_, ck := a.do("/set?k=a&v=1", "")
	if ck == nil {
		t.Fatal("no session cookie")
	}
	cookie := ck.Value
	// The node's own write comes back as a notification; wait for it, so
	// that it cannot land in the middle of what follows.
	waitFor(t, "the write's notification", func() bool { return hsA.Stats().Invalidations >= 1 })

	before := scrape(t, reg)
	for range 3 {
		if code, _ := a.do("/get?k=a", cookie); code != 200 {
			t.Fatalf("read: %d", code)
		}
	}
	after := scrape(t, reg)
	exported(after)
	d := before.delta(after, "tether_")
	if d[hits]+d[misses] != 3 || d[hits] < 2 {
		t.Errorf("3 reads on the writing node: hybrid hits %+g, misses %+g; want 3 in all, at least 2 hits", d[hits], d[misses])
	}
	t.Run("source", func(t *testing.T) {
		if d[unkn] != 0 {
			t.Skip("hybridstore does not report where a load was answered from (store.ReportSource) yet")
		}
		if d[local] != d[hits] || d[remote] != d[misses] {
			t.Errorf("session loads by source: local %+g, remote %+g; want the hybrid hits %+g and misses %+g", d[local], d[remote], d[hits], d[misses])
		}
	})

	// Node B changes the session: node A hears of it and evicts, and its
	// next read goes to Redis.
	before = after
	if code, _ := b.do("/set?k=a&v=2", cookie); code != 200 {
		t.Fatalf("write on node B: %d", code)
	}
	waitFor(t, "node B's notification on node A", func() bool { return hsA.Stats().Invalidations > uint64(before[inval]) })
	a.do("/get?k=a", cookie)
	after = scrape(t, reg)
	exported(after)
	d = before.delta(after, "tether_hybrid_")
	if d[inval] < 1 || d[misses] != 1 || d[loads] != 1 || d[hits] != 0 {
		t.Errorf("read after another node's write: %s\nwant an invalidation, then one miss and one load", formatDelta(d))
	}

	// An outage: the subscription drops, the cache is flushed and bypassed,
	// and reads fail as remote errors.
	before = after
	srv.Stop()
	waitFor(t, "the flush", func() bool { return hsA.Stats().Bypassing })
	if code, _ := a.do("/get?k=a", cookie); code != 503 {
		t.Errorf("read during the outage: %d, want 503", code)
	}
	after = scrape(t, reg)
	d = before.delta(after, "tether_hybrid_")
	if d[flush] < 1 || d[errs] < 1 || after[bypass] != 1 {
		t.Errorf("outage: %s\nbypassing %v; want a flush, a remote error, bypassing 1", formatDelta(d), after[bypass])
	}
}
