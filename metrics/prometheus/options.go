package tetherprom

import "github.com/prometheus/client_golang/prometheus"

// DefaultNamespace is the first part of every metric name.
const DefaultNamespace = "tether"

// DefaultDurationBuckets are the store call latency buckets, in seconds: from
// 100µs (a local cache hit, a Redis round trip on loopback) to 1s (a store
// call near the default store timeout is already an outage).
var DefaultDurationBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

// Commit size buckets: bytes from 64 B to 1 MiB (factor 4), keys from 1 to 64.
var (
	commitBytesBuckets = prometheus.ExponentialBuckets(64, 4, 8)
	commitKeysBuckets  = prometheus.ExponentialBuckets(1, 2, 7)
)

type config struct {
	namespace       string
	constLabels     prometheus.Labels
	durationBuckets []float64
	stores          []statsSource // WithHybrid, WithRedis
}

// An Option configures a [Collector].
type Option func(*config)

// WithNamespace sets the first part of every metric name, as in
// tether_session_loads_total. An empty namespace drops it
// (session_loads_total).
//
// Default: [DefaultNamespace] ("tether").
func WithNamespace(ns string) Option {
	return func(c *config) { c.namespace = ns }
}

// WithConstLabels adds labels with fixed values to every metric, for example
// {"app": "checkout"} when several session managers in one process register
// a Collector each on one registry.
//
// Default: none.
func WithConstLabels(l prometheus.Labels) Option {
	return func(c *config) {
		c.constLabels = make(prometheus.Labels, len(l))
		for k, v := range l {
			c.constLabels[k] = v
		}
	}
}

// WithDurationBuckets sets the buckets of
// tether_session_store_call_duration_seconds, in seconds, increasing.
//
// Default: [DefaultDurationBuckets] (100µs to 1s).
func WithDurationBuckets(b []float64) Option {
	return func(c *config) { c.durationBuckets = append([]float64(nil), b...) }
}
