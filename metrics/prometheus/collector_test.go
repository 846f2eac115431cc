package tetherprom_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	tetherprom "github.com/tether-go/tether/metrics/prometheus"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/redisstore"
)

var (
	allOps = []session.Op{
		session.OpLoad, session.OpCommit, session.OpTouch, session.OpMove,
		session.OpDelete, session.OpUserSessions, session.OpDeleteUser,
	}
	allOutcomes = []string{"ok", "not_found", "conflict", "too_large", "canceled", "error"}
	allEvents   = []session.EventKind{
		session.EventCreated, session.EventRotated, session.EventDestroyed, session.EventExpired,
		session.EventInvalidCookie, session.EventForwarded, session.EventDropped,
	}
)

func registered(t *testing.T, opts ...tetherprom.Option) (*tetherprom.Collector, *prometheus.Registry) {
	t.Helper()
	c := tetherprom.New(opts...)
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	return c, reg
}

// Every operation and outcome the session package defines is counted under
// its own name, with its latency.
func TestStoreCallsByOpAndOutcome(t *testing.T) {
	c, reg := registered(t)
	ctx := context.Background()
	for i, op := range allOps {
		for j, o := range allOutcomes {
			for range i*len(allOutcomes) + j + 1 { // a distinct count per pair
				c.StoreEnd(c.StoreStart(ctx, session.StoreStartData{Op: op}), session.StoreEndData{Op: op, Outcome: o, Duration: 2 * time.Millisecond})
			}
		}
	}
	s := scrape(t, reg)
	for i, op := range allOps {
		for j, o := range allOutcomes {
			name := `tether_session_store_calls_total{op="` + op.String() + `",outcome="` + o + `"}`
			if got, want := s[name], float64(i*len(allOutcomes)+j+1); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		name := `tether_session_store_call_duration_seconds_sum{op="` + op.String() + `"}`
		n := 0
		for j := range allOutcomes {
			n += i*len(allOutcomes) + j + 1
		}
		if got, want := s[name], float64(n)*0.002; got < want*0.999 || got > want*1.001 {
			t.Errorf("%s = %v, want %v (seconds)", name, got, want)
		}
	}
}

// A load's result: hit for a live record, miss for none (or a contract
// outcome), error for a fault; by the source the store reported.
func TestLoadResults(t *testing.T) {
	cases := []struct {
		outcome string
		found   bool
		source  store.Source
		want    string
	}{
		{"ok", true, store.SourceLocal, `{result="hit",source="local"}`},
		{"ok", true, store.SourceRemote, `{result="hit",source="remote"}`},
		{"ok", true, store.SourceUnknown, `{result="hit",source="unknown"}`},
		{"ok", false, store.SourceRemote, `{result="miss",source="remote"}`},
		{"not_found", false, store.SourceUnknown, `{result="miss",source="unknown"}`},
		{"error", false, store.SourceRemote, `{result="error",source="remote"}`},
		{"conflict", false, store.SourceUnknown, `{result="error",source="unknown"}`},
		{"ok", true, store.Source(9), `{result="hit",source="unknown"}`}, // a source added later: named by its String
	}
	for _, tc := range cases {
		c, reg := registered(t)
		c.StoreEnd(context.Background(), session.StoreEndData{Op: session.OpLoad, Outcome: tc.outcome, Found: tc.found, Source: tc.source})
		s := scrape(t, reg)
		for k, v := range s {
			if !strings.HasPrefix(k, "tether_session_loads_total") {
				continue
			}
			want := 0.0
			if k == "tether_session_loads_total"+tc.want {
				want = 1
			}
			if v != want {
				t.Errorf("load %s found=%v source=%v: %s = %v, want %v", tc.outcome, tc.found, tc.source, k, v, want)
			}
		}
		if _, ok := s["tether_session_loads_total"+tc.want]; !ok {
			t.Errorf("load %s found=%v source=%v: no %s", tc.outcome, tc.found, tc.source, tc.want)
		}
	}
}

// Commits are measured in bytes and keys; other calls are not.
func TestCommitSizes(t *testing.T) {
	c, reg := registered(t)
	c.StoreEnd(context.Background(), session.StoreEndData{Op: session.OpCommit, Outcome: "ok", Keys: 3, Bytes: 700})
	c.StoreEnd(context.Background(), session.StoreEndData{Op: session.OpCommit, Outcome: "too_large", Keys: 1, Bytes: 2 << 20})
	c.StoreEnd(context.Background(), session.StoreEndData{Op: session.OpTouch, Outcome: "ok"})
	s := scrape(t, reg)
	for name, want := range map[string]float64{
		"tether_session_commit_keys_count":  2,
		"tether_session_commit_keys_sum":    4,
		"tether_session_commit_bytes_count": 2,
		"tether_session_commit_bytes_sum":   700 + 2<<20,
	} {
		if s[name] != want {
			t.Errorf("%s = %v, want %v", name, s[name], want)
		}
	}
}

// Every event kind has its own series, a periodic rotation apart from an
// explicit one; kinds added to session later are counted by their names.
func TestEvents(t *testing.T) {
	c, reg := registered(t)
	for i, k := range allEvents {
		for range i + 1 {
			c.Event(context.Background(), session.EventData{Kind: k})
		}
	}
	for range 10 {
		c.Event(context.Background(), session.EventData{Kind: session.EventRotated, Periodic: true})
	}
	c.Event(context.Background(), session.EventData{Kind: session.EventKind(200)})
	s := scrape(t, reg)
	for i, k := range allEvents {
		name := `tether_session_events_total{event="` + k.String() + `"}`
		if s[name] != float64(i+1) {
			t.Errorf("%s = %v, want %d", name, s[name], i+1)
		}
	}
	if v := s[`tether_session_events_total{event="rotated_periodic"}`]; v != 10 {
		t.Errorf("rotated_periodic = %v, want 10", v)
	}
	if v := s[`tether_session_events_total{event="unknown"}`]; v != 1 {
		t.Errorf("an event kind added later = %v, want 1 under its String", v)
	}
}

// Operations and outcomes the session package may add later are still
// counted.
func TestUnknownOpsAndOutcomes(t *testing.T) {
	c, reg := registered(t)
	c.StoreEnd(context.Background(), session.StoreEndData{Op: session.Op(99), Outcome: "ok"})
	c.StoreEnd(context.Background(), session.StoreEndData{Op: session.OpLoad, Outcome: "throttled"})
	s := scrape(t, reg)
	for _, name := range []string{
		`tether_session_store_calls_total{op="unknown",outcome="ok"}`,
		`tether_session_store_calls_total{op="load",outcome="throttled"}`,
		`tether_session_store_call_duration_seconds_count{op="unknown"}`,
	} {
		if s[name] != 1 {
			t.Errorf("%s = %v, want 1", name, s[name])
		}
	}
}

// The hot path allocates nothing for what the session package defines.
func TestObserverDoesNotAllocate(t *testing.T) {
	c := tetherprom.New()
	ctx := context.Background()
	n := testing.AllocsPerRun(100, func() {
		for _, op := range allOps {
			for _, o := range allOutcomes {
				ctx := c.StoreStart(ctx, session.StoreStartData{Op: op})
				c.StoreEnd(ctx, session.StoreEndData{Op: op, Outcome: o, Duration: time.Millisecond,
					Found: true, Source: store.SourceLocal, Keys: 2, Bytes: 100, Err: errors.ErrUnsupported})
			}
		}
		for _, k := range allEvents {
			c.Event(ctx, session.EventData{Kind: k, ID: "x"})
			c.Event(ctx, session.EventData{Kind: k, Periodic: true})
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per round of every call and event, want 0", n)
	}
}

// Series exist from the first scrape, at zero, so that rate() sees the first
// increment; the exposition passes the Prometheus linter.
func TestFreshCollector(t *testing.T) {
	c, reg := registered(t)
	s := scrape(t, reg)
	for _, name := range []string{
		`tether_session_store_calls_total{op="commit",outcome="conflict"}`,
		`tether_session_loads_total{result="error",source="remote"}`,
		`tether_session_events_total{event="invalid_cookie"}`,
		`tether_session_store_call_duration_seconds_count{op="touch"}`,
		`tether_session_commit_bytes_count`,
	} {
		if v, ok := s[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, v, ok)
		}
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestNamespaceConstLabelsBuckets(t *testing.T) {
	c, reg := registered(t,
		tetherprom.WithNamespace("shop"),
		tetherprom.WithConstLabels(prometheus.Labels{"app": "checkout"}),
		tetherprom.WithDurationBuckets([]float64{0.001, 0.01}),
		tetherprom.WithHybrid("a", statsFunc(func() hybridstore.Stats { return hybridstore.Stats{Hits: 5} })),
	)
	c.StoreEnd(context.Background(), session.StoreEndData{Op: session.OpLoad, Outcome: "ok", Duration: 5 * time.Millisecond})
	const want = `
# HELP shop_session_store_call_duration_seconds Latency of store calls made by the session manager, by operation, whatever their outcome.
# TYPE shop_session_store_call_duration_seconds histogram
shop_session_store_call_duration_seconds_bucket{app="checkout",op="load",le="0.001"} 0
shop_session_store_call_duration_seconds_bucket{app="checkout",op="load",le="0.01"} 1
shop_session_store_call_duration_seconds_bucket{app="checkout",op="load",le="+Inf"} 1
shop_session_store_call_duration_seconds_sum{app="checkout",op="load"} 0.005
shop_session_store_call_duration_seconds_count{app="checkout",op="load"} 1
# HELP shop_hybrid_hits_total Loads answered from the local cache.
# TYPE shop_hybrid_hits_total counter
shop_hybrid_hits_total{app="checkout",store="a"} 5
`
	got := prometheus.Gatherers{reg}
	if err := testutil.GatherAndCompare(got, strings.NewReader(want), "shop_hybrid_hits_total"); err != nil {
		t.Error(err)
	}
	// Only the load series of the histogram: compare after filtering.
	s := scrape(t, reg)
	if v := s[`shop_session_store_call_duration_seconds_count{app="checkout",op="load"}`]; v != 1 {
		t.Errorf("namespaced, labelled histogram count = %v, want 1", v)
	}
	if _, ok := s[`tether_session_loads_total{result="hit",source="unknown"}`]; ok {
		t.Error("the default namespace is still used")
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

type statsFunc func() hybridstore.Stats

func (f statsFunc) Stats() hybridstore.Stats { return f() }

// Every field of Stats is exported, read at scrape time; two hybrid stores
// are told apart by name, and one name given twice fails registration.
func TestHybridStats(t *testing.T) {
	st := hybridstore.Stats{Hits: 1, Misses: 2, Loads: 3, Revalidations: 4, Invalidations: 5, Flushes: 6,
		Evictions: 7, RemoteErrors: 8, StaleServes: 9, Entries: 10, Bytes: 11, Bypassing: true}
	calls := 0
	src := statsFunc(func() hybridstore.Stats { calls++; return st })
	other := statsFunc(func() hybridstore.Stats { return hybridstore.Stats{Hits: 100} })
	_, reg := registered(t, tetherprom.WithHybrid("a", src), tetherprom.WithHybrid("b", other), tetherprom.WithHybrid("c", nil))
	if calls != 0 {
		t.Errorf("Stats read %d times before any scrape", calls)
	}
	s := scrape(t, reg)
	if calls != 1 {
		t.Errorf("Stats read %d times in a scrape, want one snapshot", calls)
	}
	for name, want := range map[string]float64{
		"hits_total": 1, "misses_total": 2, "loads_total": 3, "revalidations_total": 4, "invalidations_total": 5,
		"flushes_total": 6, "evictions_total": 7, "remote_errors_total": 8, "stale_serves_total": 9,
		"entries": 10, "bytes": 11, "bypassing": 1,
	} {
		if v := s[`tether_hybrid_`+name+`{store="a"}`]; v != want {
			t.Errorf("tether_hybrid_%s{store=a} = %v, want %v", name, v, want)
		}
	}
	if v := s[`tether_hybrid_hits_total{store="b"}`]; v != 100 {
		t.Errorf("second store's hits = %v, want 100", v)
	}
	for k := range s {
		if strings.Contains(k, `store="c"`) {
			t.Errorf("a nil source is exported: %s", k)
		}
	}

	dup := tetherprom.New(tetherprom.WithHybrid("a", src), tetherprom.WithHybrid("a", other))
	if err := prometheus.NewRegistry().Register(dup); err == nil {
		t.Error("one hybrid name given twice registered without error")
	}
}

// Two Collectors with different constant labels share a registry.
func TestTwoCollectorsOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(tetherprom.New(tetherprom.WithConstLabels(prometheus.Labels{"app": "a"})))
	if err := reg.Register(tetherprom.New(tetherprom.WithConstLabels(prometheus.Labels{"app": "b"}))); err != nil {
		t.Errorf("second collector with other const labels: %v", err)
	}
	if err := reg.Register(tetherprom.New(tetherprom.WithConstLabels(prometheus.Labels{"app": "b"}))); err == nil {
		t.Error("a duplicate collector registered without error")
	}
	scrape(t, reg)
}

type redisStatsFunc func() redisstore.Stats

func (f redisStatsFunc) Stats() redisstore.Stats { return f() }

// Every field of redisstore.Stats is exported, read at scrape time; a Redis
// store and a hybrid store may share a name, two Redis stores may not.
func TestRedisStats(t *testing.T) {
	st := redisstore.Stats{FastCommits: 1, FastDeclined: 2, FastConflicts: 3}
	calls := 0
	src := redisStatsFunc(func() redisstore.Stats { calls++; return st })
	_, reg := registered(t, tetherprom.WithRedis("sessions", src),
		tetherprom.WithHybrid("sessions", statsFunc(func() hybridstore.Stats { return hybridstore.Stats{Hits: 4} })),
		tetherprom.WithRedis("nil", nil))
	s := scrape(t, reg)
	if calls != 1 {
		t.Errorf("Stats read %d times in a scrape, want one snapshot", calls)
	}
	for name, want := range map[string]float64{
		"tether_redis_fast_commits_total": 1, "tether_redis_fast_declined_total": 2,
		"tether_redis_fast_conflicts_total": 3, "tether_hybrid_hits_total": 4,
	} {
		if v := s[name+`{store="sessions"}`]; v != want {
			t.Errorf("%s{store=sessions} = %v, want %v", name, v, want)
		}
	}
	for k := range s {
		if strings.Contains(k, `store="nil"`) {
			t.Errorf("a nil source is exported: %s", k)
		}
	}
	dup := tetherprom.New(tetherprom.WithRedis("a", src), tetherprom.WithRedis("a", src))
	if err := prometheus.NewRegistry().Register(dup); err == nil {
		t.Error("one Redis store name given twice registered without error")
	}
}
