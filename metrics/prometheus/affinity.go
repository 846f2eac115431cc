package tetherprom

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tether-go/tether/affinity"
)

var _ affinity.Observer = (*Collector)(nil)

// knownRoutes are the affinity.Route values with precomputed children.
var knownRoutes = [...]affinity.Route{
	affinity.RouteLocal, affinity.RouteReceived, affinity.RouteForwarded,
	affinity.RouteFallback, affinity.RouteHeld, affinity.RouteFailed,
}

const numRoutes = int(affinity.RouteFailed) + 1

// affinityMetrics are the metrics of an affinity.Router.
type affinityMetrics struct {
	routes      *prometheus.CounterVec
	peerChanges *prometheus.CounterVec
	routesBy    [numRoutes]prometheus.Counter
	peerUp      prometheus.Counter
	peerDown    prometheus.Counter
}

func newAffinityMetrics(ns string, cl prometheus.Labels) affinityMetrics {
	a := affinityMetrics{
		routes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "affinity", Name: "requests_total", ConstLabels: cl,
			Help: "Requests routed by an affinity Router: local (owned here), received (forwarded here by a peer), forwarded (to the owner), fallback (owner down, next peer served), held (owner down, local sessions: 503), failed (the peer failed after taking the request: 502).",
		}, []string{"route"}),
		peerChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: "affinity", Name: "peer_changes_total", ConstLabels: cl,
			Help: "Peers marked down (a request could not reach them) and up (they answered again).",
		}, []string{"state"}),
	}
	for _, r := range knownRoutes {
		a.routesBy[r] = a.routes.WithLabelValues(r.String())
	}
	a.peerUp = a.peerChanges.WithLabelValues("up")
	a.peerDown = a.peerChanges.WithLabelValues("down")
	return a
}

func (a *affinityMetrics) describe(ch chan<- *prometheus.Desc) {
	a.routes.Describe(ch)
	a.peerChanges.Describe(ch)
}

func (a *affinityMetrics) collect(ch chan<- prometheus.Metric) {
	a.routes.Collect(ch)
	a.peerChanges.Collect(ch)
}

// Routed implements [affinity.Observer]: it counts the request by route.
func (c *Collector) Routed(_ context.Context, d affinity.RouteData) {
	if r := int(d.Route); r > 0 && r < numRoutes {
		c.affinity.routesBy[r].Inc()
		return
	}
	c.affinity.routes.WithLabelValues(d.Route.String()).Inc()
}

// PeerChanged implements [affinity.Observer]: it counts peers marked down
// and up. Peer addresses are not labels: pods come and go, and each would
// leave a series behind.
func (c *Collector) PeerChanged(_ context.Context, d affinity.PeerData) {
	if d.Up {
		c.affinity.peerUp.Inc()
	} else {
		c.affinity.peerDown.Inc()
	}
}
