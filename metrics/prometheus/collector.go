package tetherprom

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-go/tether/session"
)

var (
	_ session.Observer     = (*Collector)(nil)
	_ prometheus.Collector = (*Collector)(nil)
)

// Label values the observer hot path knows in advance. Their counters are
// created by New, so counting one of them allocates nothing and every series
// is exported (at zero) from the first scrape: rate() over a series that
// appears late misses its first increments.
var (
	// knownOps are the session.Op values with precomputed children.
	knownOps = [...]session.Op{
		session.OpLoad, session.OpCommit, session.OpTouch, session.OpMove,
		session.OpDelete, session.OpUserSessions, session.OpDeleteUser,
	}
	outcomes    = [...]string{"ok", "not_found", "conflict", "too_large", "canceled", "error"}
	loadResults = [...]string{"hit", "miss", "error"}
	// sources is indexed by store.Source (unknown, local, remote).
	sources = [...]string{"unknown", "local", "remote"}
	// eventNames is indexed by session.EventKind; the extra last slot is an
	// explicit rotation's periodic sibling.
	eventNames = [...]string{
		session.EventCreated:       "created",
		session.EventRotated:       "rotated",
		session.EventDestroyed:     "destroyed",
		session.EventExpired:       "expired",
		session.EventInvalidCookie: "invalid_cookie",
		session.EventForwarded:     "forwarded",
		session.EventDropped:       "dropped",
		numEventSlots - 1:          "rotated_periodic",
	}
)

const (
	numOps        = int(session.OpDeleteUser) + 1
	numEventSlots = int(session.EventDropped) + 2
	periodicSlot  = numEventSlots - 1
)

const (
	loadHit = iota
	loadMiss
	loadError
)

// Collector is a [session.Observer] that keeps Prometheus metrics of what a
// session Manager does, an [affinity.Observer] that counts how an affinity
// Router routes requests, and a [prometheus.Collector] that exports them
// (and the counters of any stores given to [WithHybrid] and [WithRedis]).
// It is safe for concurrent use by multiple goroutines.
//
// Observing costs a few atomic adds and no allocation for every operation,
// outcome and event the session package defines; values it does not know yet
// (added by a newer session package) are still counted, under their own
// names, at the cost of a label lookup.
//
// One Collector may observe several Managers; their counts add up. To tell
// them apart, give each its own Collector with [WithConstLabels].
type Collector struct {
	calls       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	loads       *prometheus.CounterVec
	events      *prometheus.CounterVec
	commitBytes prometheus.Histogram
	commitKeys  prometheus.Histogram
	stores      []exporter // WithHybrid, WithRedis
	affinity    affinityMetrics
	// err is a configuration error, reported by Describe to the registry.
	err error

	callsBy    [numOps][len(outcomes)]prometheus.Counter
	durationBy [numOps]prometheus.Observer
	loadsBy    [len(loadResults)][len(sources)]prometheus.Counter
	eventsBy   [numEventSlots]prometheus.Counter
}

// New returns a Collector. Register it with a prometheus.Registerer and pass
// it to [session.WithObserver]:
//
//	c := tetherprom.New()
//	reg.MustRegister(c)
//	m, err := session.New(session.WithObserver(c))
//
// An invalid namespace or label name is reported by the registry when the
// Collector is registered, as is a name given to WithHybrid twice.
func New(opts ...Option) *Collector {
	cfg := config{namespace: DefaultNamespace, durationBuckets: DefaultDurationBuckets}
	for _, o := range opts {
		o(&cfg)
	}
	ns, cl := cfg.namespace, cfg.constLabels
	c := &Collector{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "session", Name: "store_calls_total", ConstLabels: cl,
			Help: "Store calls made by the session manager, by operation and outcome (ok, not_found, conflict, too_large, error).",
		}, []string{"op", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "session", Name: "store_call_duration_seconds", ConstLabels: cl,
			Help:    "Latency of store calls made by the session manager, by operation, whatever their outcome.",
			Buckets: cfg.durationBuckets,
		}, []string{"op"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "session", Name: "loads_total", ConstLabels: cl,
			Help: "Session loads: hit (a live record), miss (none, ended, or a rotation tombstone) or error, by the source that answered (local, remote, unknown).",
		}, []string{"result", "source"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "session", Name: "events_total", ConstLabels: cl,
			Help: "Events in sessions' lives: created, rotated (explicit), rotated_periodic, destroyed, expired, invalid_cookie, forwarded, dropped.",
		}, []string{"event"}),
		commitBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "session", Name: "commit_bytes", ConstLabels: cl,
			Help:    "Bytes of the values set by each commit attempt.",
			Buckets: commitBytesBuckets,
		}),
		commitKeys: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: "session", Name: "commit_keys", ConstLabels: cl,
			Help:    "Keys set or deleted by each commit attempt.",
			Buckets: commitKeysBuckets,
		}),
	}
	c.affinity = newAffinityMetrics(ns, cl)
	for _, op := range knownOps {
		c.durationBy[op] = c.duration.WithLabelValues(op.String())
		for i, o := range outcomes {
			c.callsBy[op][i] = c.calls.WithLabelValues(op.String(), o)
		}
	}
	for i, r := range loadResults {
		for j, s := range sources {
			c.loadsBy[i][j] = c.loads.WithLabelValues(r, s)
		}
	}
	for i, e := range eventNames {
		if e != "" {
			c.eventsBy[i] = c.events.WithLabelValues(e)
		}
	}
	seen := map[string]bool{}
	for _, src := range cfg.stores {
		k := src.kind + "\x00" + src.name
		if seen[k] {
			c.err = fmt.Errorf("tetherprom: %s store name %q given twice", src.kind, src.name)
			continue
		}
		seen[k] = true
		c.stores = append(c.stores, src.exporter(ns, storeLabels(cl, src.name)))
	}
	return c
}

// Describe implements [prometheus.Collector].
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.err != nil {
		ch <- prometheus.NewInvalidDesc(c.err)
	}
	c.calls.Describe(ch)
	c.duration.Describe(ch)
	c.loads.Describe(ch)
	c.events.Describe(ch)
	c.commitBytes.Describe(ch)
	c.commitKeys.Describe(ch)
	c.affinity.describe(ch)
	for _, x := range c.stores {
		x.describe(ch)
	}
}

// Collect implements [prometheus.Collector]. Stores' counters are
// read here, one Stats snapshot per store per scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(c.err), c.err)
	}
	c.calls.Collect(ch)
	c.duration.Collect(ch)
	c.loads.Collect(ch)
	c.events.Collect(ch)
	c.commitBytes.Collect(ch)
	c.commitKeys.Collect(ch)
	c.affinity.collect(ch)
	for _, x := range c.stores {
		x.collect(ch)
	}
}

// StoreStart implements [session.Observer]. It does nothing: latency comes
// with StoreEnd.
func (c *Collector) StoreStart(ctx context.Context, _ session.StoreStartData) context.Context {
	return ctx
}
