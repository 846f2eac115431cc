package affinity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoSelf is returned by [New] when this node's own address is neither
// given ([WithSelf]) nor found from the environment (POD_IP).
var ErrNoSelf = errors.New("affinity: this node's address is unknown: set WithSelf or POD_IP")

// Router decides, for each request, which replica owns it, and serves it
// or forwards it there. It is safe for concurrent use by multiple
// goroutines.
type Router struct {
	cfg       config
	self      string
	peers     *peerSet
	proxy     *httputil.ReverseProxy
	transport *http.Transport
	log       *slog.Logger

	stop      context.CancelFunc
	done      chan struct{} // closed when the DNS refresh has stopped
	closeOnce sync.Once
	closed    atomic.Bool // Close was called: connections to peers are not kept
}

// New returns a Router. With [WithPeerDNS] it resolves the name once,
// bounded by ctx, and starts a goroutine that resolves it again
// periodically until [Router.Close].
func New(ctx context.Context, opts ...Option) (*Router, error) {
	cfg := config{
		resolver:     net.DefaultResolver,
		resolveEvery: DefaultResolveEvery,
		dialTimeout:  DefaultDialTimeout,
		getenv:       os.Getenv,
		now:          time.Now,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := finish(&cfg); err != nil {
		return nil, err
	}
	rt := &Router{cfg: cfg, log: cfg.logger, done: make(chan struct{})}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	rt.self = cfg.self
	rt.peers = newPeerSet(rt.self, cfg.peers, cfg.dialTimeout)
	rt.transport = newTransport(cfg.dialTimeout)
	rt.proxy = rt.newProxy()

	if cfg.peerDNS == "" {
		close(rt.done)
		rt.stop = func() {}
		return rt, nil
	}
	rt.resolveOnce(ctx)
	bg, cancel := context.WithCancel(context.Background())
	rt.stop = cancel
	go rt.refresh(bg)
	return rt, nil
}

// finish checks the configuration and fills in defaults.
func finish(c *config) error {
	if c.keyKinds > 1 {
		return errors.New("affinity: more than one of WithCookie, WithClientIP and WithKeyFunc")
	}
	if c.keyKind == keyUnset {
		c.keyKind = keyCookie
	}
	if c.cookie.Name == "" {
		c.cookie.Name = DefaultCookieName
	}
	if c.cookie.Path == "" {
		c.cookie.Path = "/"
	}
	if c.cookie.MaxAge == 0 {
		c.cookie.MaxAge = DefaultCookieMaxAge
	}
	switch {
	case len(c.peers) > 0 && c.peerDNS != "":
		return errors.New("affinity: both WithPeers and WithPeerDNS")
	case len(c.peers) == 0 && c.peerDNS == "":
		return errors.New("affinity: no peers: use WithPeers or WithPeerDNS")
	}
	if c.self == "" {
		self, ok := selfFromEnv(c)
		if !ok {
			if ip := c.getenv("POD_IP"); ip != "" {
				return fmt.Errorf("%w (POD_IP %s is the host of no peer)", ErrNoSelf, ip)
			}
			return ErrNoSelf
		}
		c.self = self
	}
	if len(c.peers) > 0 && !slices.Contains(c.peers, c.self) {
		return fmt.Errorf("affinity: this node's address %s is not among the peers %v", c.self, c.peers)
	}
	return nil
}

// Close stops the DNS refresh and closes idle connections to peers. It
// does not stop requests in flight, and requests still routed afterwards
// (a server draining) are answered, but no connection to a peer outlives
// them. Close is idempotent.
func (rt *Router) Close() error {
	rt.closeOnce.Do(func() {
		rt.closed.Store(true)
		rt.stop()
		<-rt.done
		rt.transport.CloseIdleConnections()
	})
	return nil
}

// Self returns this node's address.
func (rt *Router) Self() string { return rt.self }

// Peers returns the current peers, this node included, sorted.
func (rt *Router) Peers() []string { return slices.Clone(rt.peers.peers()) }

// Owner returns the peer that owns key among the current peers, whatever
// their health.
func (rt *Router) Owner(key string) string { return owner(rt.peers.peers(), key) }

// Wrap returns a handler that serves the requests this node owns with next
// and forwards the others to their owners. Put it outside the session
// middleware, so that the owner loads the session:
//
//	handler := rt.Wrap(middleware.Sessions(m)(mux))
//
// Requests that must be answered by every node themselves (health probes,
// metrics) belong outside Wrap.
func (rt *Router) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt.serve(w, r, next)
	})
}

func (rt *Router) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	ctx := r.Context()
	if _, hop := r.Header[HopHeader]; hop {
		// Forwarded by a peer, or forged by a client: either way served
		// here, which is all a forged marker can obtain.
		r.Header.Del(HopHeader)
		rt.routed(ctx, RouteData{Route: RouteReceived})
		next.ServeHTTP(w, r)
		return
	}
	key, ok, fresh := rt.keyOf(w, r)
	if fresh {
		w = &noStore{ResponseWriter: w}
	}
	peers := rt.peers.peers()
	if !ok {
		rt.routed(ctx, RouteData{Route: RouteLocal})
		next.ServeHTTP(w, r)
		return
	}
	own := owner(peers, key)
	if own == rt.self {
		rt.routed(ctx, RouteData{Route: RouteLocal, Owner: own})
		next.ServeHTTP(w, r)
		return
	}
	order := rank(peers, key)
	now := rt.cfg.now()
	for i := 0; i < len(order); i++ {
		p := order[i].peer
		route := RouteForwarded
		if p != own {
			route = RouteFallback
		}
		if p == rt.self {
			rt.routed(ctx, RouteData{Route: route, Owner: own})
			next.ServeHTTP(w, r)
			return
		}
		usable, downSince, retryAt := rt.peers.state(p, now)
		if !usable {
			if p == own && rt.holding(now, downSince) {
				rt.hold(w, r, own, retryAt.Sub(now))
				return
			}
			continue
		}
		a := rt.forward(w, r, RouteData{Route: route, Owner: own, Peer: p})
		if a.err == nil {
			return // answered, and observed when the answer came
		}
		if ctx.Err() != nil {
			// The client left: no one to answer, and not p's fault. Still
			// observed, as the route it took, unless the answer was.
			if !a.answered {
				rt.routed(ctx, a.route)
			}
			return
		}
		if status := a.clientFault(); status != 0 {
			// The client's body could not be read while it streamed to the
			// peer: the peer is not at fault and stays up (else any client
			// could take the replica its key picks out of rotation), and
			// the request, cut short, is not sent again.
			rt.routed(ctx, RouteData{Route: RouteFailed, Owner: own, Peer: p})
			http.Error(w, http.StatusText(status)+": the request body could not be read", status)
			return
		}
		if a.answered {
			// The peer answered, then the exchange failed (an upgrade the
			// peer did not complete): it is up, and it had the request.
			http.Error(w, "502 bad gateway: the replica serving this request failed", http.StatusBadGateway)
			return
		}
		now = rt.cfg.now()
		if down, backoff := rt.peers.fail(p, now, a.err); down {
			rt.peerChanged(ctx, PeerData{Peer: p, Err: a.err, Backoff: backoff})
		}
		if !a.canRetry() {
			rt.routed(ctx, RouteData{Route: RouteFailed, Owner: own, Peer: p})
			http.Error(w, "502 bad gateway: the replica serving this request failed", http.StatusBadGateway)
			return
		}
		if p == own {
			if _, downSince, retryAt := rt.peers.state(p, now); rt.holding(now, downSince) {
				rt.hold(w, r, own, retryAt.Sub(now))
				return
			}
		}
	}
	// Unreachable: self is in every order. Serve rather than fail.
	rt.routed(ctx, RouteData{Route: RouteFallback, Owner: own})
	next.ServeHTTP(w, r)
}

// holding reports whether a request whose owner went down at downSince is
// answered 503 rather than served by the next peer.
func (rt *Router) holding(now, downSince time.Time) bool {
	return rt.cfg.localSessions && !downSince.IsZero() && now.Sub(downSince) < rt.cfg.hold
}

// hold answers 503 with Retry-After: the time until the owner is tried
// again, at least a second.
func (rt *Router) hold(w http.ResponseWriter, r *http.Request, own string, wait time.Duration) {
	rt.routed(r.Context(), RouteData{Route: RouteHeld, Owner: own})
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "503 service unavailable: the replica holding this session is restarting; retry shortly", http.StatusServiceUnavailable)
}
