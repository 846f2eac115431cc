package tetherprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-go/tether/store/hybridstore"
)

// A StatsSource is what [WithHybrid] reads at scrape time: a
// *[hybridstore.Store], or anything wrapping one.
type StatsSource interface {
	Stats() hybridstore.Stats
}

// WithHybrid exports the counters of a hybrid store's local tier
// (tether_hybrid_hits_total and the like, see the package documentation),
// labelled store=name. Give it once per hybrid store, each under its own
// name; a name may be "" when there is only one. A nil h is ignored.
//
// The counters are read from h.Stats when the registry is scraped: no
// goroutine, and nothing on the request path.
//
// Default: none.
func WithHybrid(name string, h StatsSource) Option {
	return func(c *config) {
		if h != nil {
			c.stores = append(c.stores, statsSource{"hybrid", name, func(ns string, l prometheus.Labels) exporter {
				return newStatsExporter(ns, "hybrid", l, h.Stats, hybridMetrics[:])
			}})
		}
	}
}

// hybridMetrics lists what is exported of a hybridstore.Stats snapshot.
var hybridMetrics = [...]stat[hybridstore.Stats]{
	{"hits_total", "Loads answered from the local cache.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Hits) }},
	{"misses_total", "Loads that found no usable local entry and went to the remote.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Misses) }},
	{"loads_total", "Remote loads made (misses minus loads: concurrent misses that shared one load).",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Loads) }},
	{"revalidations_total", "Version checks sent to the remote.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Revalidations) }},
	{"invalidations_total", "Change notifications received from the remote.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Invalidations) }},
	{"flushes_total", "Whole-cache flushes: losses of the remote's notifications and re-subscriptions.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Flushes) }},
	{"evictions_total", "Entries dropped to stay within the byte bound; a steady rate means the cache is too small.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.Evictions) }},
	{"remote_errors_total", "Remote calls that failed (faults, not typed outcomes or cancellations).",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.RemoteErrors) }},
	{"stale_serves_total", "Loads answered from a local entry because the remote failed.",
		prometheus.CounterValue, func(s *hybridstore.Stats) float64 { return float64(s.StaleServes) }},
	{"entries", "Entries in the local cache.",
		prometheus.GaugeValue, func(s *hybridstore.Stats) float64 { return float64(s.Entries) }},
	{"bytes", "Weight of the local cache's entries, as the byte bound counts it.",
		prometheus.GaugeValue, func(s *hybridstore.Stats) float64 { return float64(s.Bytes) }},
	{"bypassing", "1 while the local cache is bypassed because the remote's notifications are down, else 0.",
		prometheus.GaugeValue, func(s *hybridstore.Stats) float64 {
			if s.Bypassing {
				return 1
			}
			return 0
		}},
}
