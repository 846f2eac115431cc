package tetherprom_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/testserver"
	tetherprom "github.com/tether-go/tether/metrics/prometheus"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/redisstore"
	"github.com/tether-go/tether/store/storetest"
)

// counted are the metrics whose every change a step must predict.
var counted = []string{
	"tether_session_store_calls_total",
	"tether_session_loads_total",
	"tether_session_events_total",
	"tether_session_commit_keys_count",
	"tether_session_store_call_duration_seconds_count",
}

// The counters move as they should through the middleware, against a real
// Redis: each step's change to every counter is predicted, including the ones
// that must not move. The exposition is read the way Prometheus reads it
// (promhttp, text format, expfmt parser).
func TestCountersThroughMiddlewareOnRedis(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{
		Addr:                  srv.Addr(),
		ContextTimeoutEnabled: true,
		DialTimeout:           100 * time.Millisecond,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		MaxRetries:            -1,
	})
	t.Cleanup(func() { rdb.Close() })
	st := redisstore.New(rdb, redisstore.WithPolicyCheck(false), redisstore.WithNotify(false))
	t.Cleanup(func() { st.Close() })

	c := tetherprom.New()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	clock := storetest.NewClock(time.Now())
	m, err := session.New(
		session.WithStore(st),
		session.WithObserver(c),
		session.WithClock(clock.Now),
		session.WithStoreTimeout(300*time.Millisecond),
		session.WithRotateEvery(15*time.Minute),
		session.WithTouchInterval(15*time.Minute),
		session.WithLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	a := newApp(t, m)

	var cookie, preLogin, prePeriodic, loggedIn string
	// keep follows the cookie a browser would keep.
	keep := func(code int, ck *http.Cookie) int {
		if ck != nil {
			cookie = ck.Value
			if ck.MaxAge < 0 {
				cookie = ""
			}
		}
		return code
	}
	steps := []struct {
		name string
		do   func() int // returns the status
		code int
		want map[string]float64
	}{
		{"create", func() int { return keep(a.do("/set?k=a&v=1", "")) }, 200, map[string]float64{
			`tether_session_store_calls_total{op="commit",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="commit"}`: 1,
			`tether_session_commit_keys_count`:                              1,
			`tether_session_events_total{event="created"}`:                  1,
		}},
		{"hit", func() int { return keep(a.do("/get?k=a", cookie)) }, 200, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="load"}`: 1,
			`tether_session_loads_total{result="hit",source="unknown"}`:   1,
		}},
		{"untouched", func() int { return keep(a.do("/none", cookie)) }, 200, map[string]float64{}},
		{"invalid cookie", func() int { code, _ := a.do("/get?k=a", "not-a-token"); return code }, 200, map[string]float64{
			`tether_session_events_total{event="invalid_cookie"}`: 1,
		}},
		{"login rotates", func() int {
			preLogin = cookie
			code := keep(a.do("/login?u=alice", cookie))
			loggedIn = cookie
			return code
		}, 200, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="load"}`: 1,
			`tether_session_loads_total{result="hit",source="unknown"}`:   1,
			// the record under the new token, then the old one forwarded
			`tether_session_store_calls_total{op="commit",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="commit"}`: 1,
			`tether_session_commit_keys_count`:                              1,
			`tether_session_store_calls_total{op="move",outcome="ok"}`:      1,
			`tether_session_store_call_duration_seconds_count{op="move"}`:   1,
			`tether_session_events_total{event="rotated"}`:                  1,
		}},
		// Login kills the old token at once: a set-only write that still
		// carries it is dropped, not applied to the new session.
		// The login's tombstone forwards nothing: the commit meets it
		// (a conflict outcome) and the write is dropped.
		{"dropped: a write with the token login killed", func() int { code, _ := a.do("/set?k=c&v=3", preLogin); return code }, 200, map[string]float64{
			`tether_session_store_calls_total{op="commit",outcome="conflict"}`: 1,
			`tether_session_store_call_duration_seconds_count{op="commit"}`:    1,
			`tether_session_commit_keys_count`:                                 1,
			`tether_session_events_total{event="dropped"}`:                     1,
		}},
		{"periodic rotation", func() int {
			clock.Advance(16 * time.Minute)
			prePeriodic = cookie
			return keep(a.do("/get?k=a", cookie))
		}, 200, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="ok"}`:      1,
			`tether_session_store_call_duration_seconds_count{op="load"}`:   1,
			`tether_session_loads_total{result="hit",source="unknown"}`:     1,
			`tether_session_store_calls_total{op="commit",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="commit"}`: 1,
			`tether_session_commit_keys_count`:                              1,
			`tether_session_store_calls_total{op="move",outcome="ok"}`:      1,
			`tether_session_store_call_duration_seconds_count{op="move"}`:   1,
			`tether_session_events_total{event="rotated_periodic"}`:         1,
		}},
		// A periodic rotation leaves the old token as a tombstone for the
		// grace period. A set-only request that still carries it commits to
		// the tombstone: the store refuses (a conflict), and the change is
		// re-applied to the new record, which is then loaded for the new
		// cookie's expiry.
		{"conflict", func() int { code, _ := a.do("/set?k=b&v=2", prePeriodic); return code }, 200, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="ok"}`:         1,
			`tether_session_store_call_duration_seconds_count{op="load"}`:      1,
			`tether_session_loads_total{result="hit",source="unknown"}`:        1,
			`tether_session_store_calls_total{op="commit",outcome="conflict"}`: 1,
			`tether_session_store_calls_total{op="commit",outcome="ok"}`:       1,
			`tether_session_store_call_duration_seconds_count{op="commit"}`:    2,
			`tether_session_commit_keys_count`:                                 2,
			`tether_session_events_total{event="forwarded"}`:                   1,
		}},
		{"logout", func() int { loggedIn = cookie; return keep(a.do("/logout", cookie)) }, 200, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="load"}`: 1,
			`tether_session_loads_total{result="hit",source="unknown"}`:   1,
			// Logout ends the record with a Move and keeps the tombstone
			// (in-flight writes must find it): no delete.
			`tether_session_store_calls_total{op="move",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="move"}`: 1,
			`tether_session_events_total{event="destroyed"}`:              1,
		}},
		{"miss: a dead session's cookie", func() int { code, _ := a.do("/get?k=b", loggedIn); return code }, 200, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="load"}`: 1,
			`tether_session_loads_total{result="miss",source="unknown"}`:  1,
			`tether_session_events_total{event="expired"}`:                1,
		}},
		{"new session before the outage", func() int { return keep(a.do("/set?k=a&v=1", "")) }, 200, map[string]float64{
			`tether_session_store_calls_total{op="commit",outcome="ok"}`:    1,
			`tether_session_store_call_duration_seconds_count{op="commit"}`: 1,
			`tether_session_commit_keys_count`:                              1,
			`tether_session_events_total{event="created"}`:                  1,
		}},
		{"error: Redis stopped", func() int { srv.Stop(); code, _ := a.do("/get?k=a", cookie); return code }, 503, map[string]float64{
			`tether_session_store_calls_total{op="load",outcome="error"}`: 1,
			`tether_session_store_call_duration_seconds_count{op="load"}`: 1,
			`tether_session_loads_total{result="error",source="unknown"}`: 1,
		}},
	}
	before := scrape(t, reg)
	for _, s := range steps {
		if code := s.do(); code != s.code {
			t.Errorf("%s: status %d, want %d", s.name, code, s.code)
		}
		after := scrape(t, reg)
		got := before.delta(after, counted...)
		if !equalDelta(got, s.want) {
			t.Errorf("%s: counters moved by%s\nwant%s", s.name, formatDelta(got), formatDelta(s.want))
		}
		before = after
	}

	// The exposition of the events family, exactly.
	const events = `
# HELP tether_session_events_total Events in sessions' lives: created, rotated (explicit), rotated_periodic, destroyed, expired, invalid_cookie, forwarded, dropped.
# TYPE tether_session_events_total counter
tether_session_events_total{event="created"} 2
tether_session_events_total{event="destroyed"} 1
tether_session_events_total{event="dropped"} 1
tether_session_events_total{event="expired"} 1
tether_session_events_total{event="forwarded"} 1
tether_session_events_total{event="invalid_cookie"} 1
tether_session_events_total{event="rotated"} 1
tether_session_events_total{event="rotated_periodic"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(events), "tether_session_events_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func equalDelta(got, want map[string]float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
