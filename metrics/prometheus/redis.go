package tetherprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-go/tether/store/redisstore"
)

// A RedisStatsSource is what [WithRedis] reads at scrape time: a
// *[redisstore.Store], or anything wrapping one.
type RedisStatsSource interface {
	Stats() redisstore.Stats
}

// WithRedis exports the counters of a Redis store (tether_redis_fast_*, see
// the package documentation), labelled store=name. Give it once per Redis
// store, each under its own name; a name may be "" when there is only one.
// A nil r is ignored. A hybrid store's remote is given here too, under its
// own name: the hybrid's counters say nothing of how its remote writes.
//
// Default: none.
func WithRedis(name string, r RedisStatsSource) Option {
	return func(c *config) {
		if r != nil {
			c.stores = append(c.stores, statsSource{"redis", name, func(ns string, l prometheus.Labels) exporter {
				return newStatsExporter(ns, "redis", l, r.Stats, redisMetrics[:])
			}})
		}
	}
}

// redisMetrics lists what is exported of a redisstore.Stats snapshot.
var redisMetrics = [...]stat[redisstore.Stats]{
	{"fast_commits_total", "Commits written from the session's loaded record behind a check that it was still the stored one.",
		prometheus.CounterValue, func(s *redisstore.Stats) float64 { return float64(s.FastCommits) }},
	{"fast_declined_total", "Commits with a loaded record given to the commit script without trying the fast path (logins, large records).",
		prometheus.CounterValue, func(s *redisstore.Stats) float64 { return float64(s.FastDeclined) }},
	{"fast_conflicts_total", "Fast-path scripts that found the stored record changed and wrote nothing: a round trip more each.",
		prometheus.CounterValue, func(s *redisstore.Stats) float64 { return float64(s.FastConflicts) }},
}
