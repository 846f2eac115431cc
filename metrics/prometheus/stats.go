package tetherprom

import (
	"maps"

	"github.com/prometheus/client_golang/prometheus"
)

// A store's counters are exported from a snapshot of its Stats, read when
// the registry is scraped: one call per store per scrape, no goroutine, and
// nothing on the request path.

// stat is one exported field of a Stats snapshot of type S.
type stat[S any] struct {
	name, help string
	typ        prometheus.ValueType
	value      func(*S) float64
}

// statsSource is a store given to an option (WithHybrid, WithRedis), made
// into its exporter by New, which knows the namespace and labels.
type statsSource struct {
	kind, name string
	exporter   func(ns string, constLabels prometheus.Labels) exporter
}

type exporter interface {
	describe(ch chan<- *prometheus.Desc)
	collect(ch chan<- prometheus.Metric)
}

// statsExporter exports the stats of one store, labelled store=name.
type statsExporter[S any] struct {
	read  func() S
	table []stat[S]
	descs []*prometheus.Desc
}

func newStatsExporter[S any](ns, subsystem string, labels prometheus.Labels, read func() S, table []stat[S]) *statsExporter[S] {
	x := &statsExporter[S]{read: read, table: table, descs: make([]*prometheus.Desc, len(table))}
	for i, m := range table {
		x.descs[i] = prometheus.NewDesc(prometheus.BuildFQName(ns, subsystem, m.name), m.help, nil, labels)
	}
	return x
}

// storeLabels are the constant labels with store=name.
func storeLabels(constLabels prometheus.Labels, name string) prometheus.Labels {
	labels := maps.Clone(constLabels)
	if labels == nil {
		labels = prometheus.Labels{}
	}
	labels["store"] = name
	return labels
}

func (x *statsExporter[S]) describe(ch chan<- *prometheus.Desc) {
	for _, d := range x.descs {
		ch <- d
	}
}

func (x *statsExporter[S]) collect(ch chan<- prometheus.Metric) {
	st := x.read()
	for i, m := range x.table {
		ch <- prometheus.MustNewConstMetric(x.descs[i], m.typ, m.value(&st))
	}
}
