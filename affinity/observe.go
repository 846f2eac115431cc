package affinity

import (
	"context"
	"time"
)

// An Observer is told how each request was routed and when a peer goes down
// or comes back, for metrics and audits. Package metrics/prometheus has one.
//
// The data structs may grow fields; implementations should not construct
// them. Methods run on the request path: they must be safe for concurrent
// use and return quickly.
type Observer interface {
	// Routed is called once per request the Router handled, when the
	// route is known: before the request is served or forwarded, except
	// for RouteForwarded and RouteFallback to a peer, reported when the
	// peer answered (its response may still be streaming).
	Routed(ctx context.Context, d RouteData)

	// PeerChanged is called when a peer is marked down (a request could
	// not reach it) and when it answers again.
	PeerChanged(ctx context.Context, d PeerData)
}

// Route is what the Router did with a request.
type Route int

const (
	// RouteLocal: this node owns the request's key (or the request has
	// no key) and served it.
	RouteLocal Route = iota + 1
	// RouteReceived: a peer forwarded the request here, and this node
	// served it without routing it again.
	RouteReceived
	// RouteForwarded: the request went to its owner.
	RouteForwarded
	// RouteFallback: the owner was down; the next peer in the key's order
	// served the request, this node or another.
	RouteFallback
	// RouteHeld: the owner was down and sessions are local
	// (WithLocalSessions): the client was answered 503 with Retry-After.
	RouteHeld
	// RouteFailed: a peer failed after the request had been sent to it;
	// it is not sent again (it may have been applied), and the client was
	// answered 502 Bad Gateway. Also a request whose body could not be
	// read while it was sent (malformed, or over a limit): answered 400
	// or 413, and the peer, not at fault, stays up.
	RouteFailed
)

var routeNames = [...]string{"", "local", "received", "forwarded", "fallback", "held", "failed"}

// String returns the route's name in lower case ("local", "forwarded"…), as
// metrics label it.
func (r Route) String() string {
	if r > 0 && int(r) < len(routeNames) {
		return routeNames[r]
	}
	return "unknown"
}

// RouteData describes a routed request.
type RouteData struct {
	Route Route
	// Owner is the peer that owns the request's key, "" when the request
	// had no key or was received from a peer.
	Owner string
	// Peer is the peer the request was sent to, "" when this node served
	// it (or held it).
	Peer string
}

// PeerData describes a change in a peer's health.
type PeerData struct {
	Peer string
	// Up: the peer answered again. Otherwise it was marked down.
	Up bool
	// Err is why it was marked down.
	Err error
	// Backoff is how long no request is sent to a peer marked down.
	Backoff time.Duration
}

func (rt *Router) routed(ctx context.Context, d RouteData) {
	if rt.cfg.observer != nil {
		rt.cfg.observer.Routed(ctx, d)
	}
}

func (rt *Router) peerChanged(ctx context.Context, d PeerData) {
	if d.Up {
		rt.log.Info("affinity: peer answers again", "peer", d.Peer)
	} else {
		rt.log.Warn("affinity: peer down", "peer", d.Peer, "err", d.Err, "retry_in", d.Backoff)
	}
	if rt.cfg.observer != nil {
		rt.cfg.observer.PeerChanged(ctx, d)
	}
}
