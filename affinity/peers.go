package affinity

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"time"
)

// peerSet is the list of peers and what this node knows of their health. It
// is safe for concurrent use.
type peerSet struct {
	self string
	// probeWindow is how long one request has to find a down peer back
	// before another may try.
	probeWindow time.Duration

	mu     sync.RWMutex
	list   []string           // sorted, self included; replaced, never changed in place
	health map[string]*health // peers that failed; absent means up
}

// health is the state of a peer that failed to answer.
type health struct {
	downSince time.Time     // first failure of this outage
	retryAt   time.Time     // no request is sent before then
	backoff   time.Duration // the wait after the next failure is twice this
	probing   bool          // a request is trying the peer again
	lastErr   error
}

func newPeerSet(self string, peers []string, probeWindow time.Duration) *peerSet {
	ps := &peerSet{self: self, probeWindow: probeWindow, health: map[string]*health{}}
	ps.set(peers)
	return ps
}

// set replaces the list. Self is always in it: a node agrees with itself
// about what it owns even before DNS lists it. Health of peers that stay is
// kept; peers that left are forgotten.
func (ps *peerSet) set(peers []string) (changed bool) {
	list := append([]string{ps.self}, peers...)
	slices.Sort(list)
	list = slices.Compact(list)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if slices.Equal(list, ps.list) {
		return false
	}
	ps.list = list
	for p := range ps.health {
		if _, found := slices.BinarySearch(list, p); !found {
			delete(ps.health, p)
		}
	}
	return true
}

// peers returns the current list; the caller must not change it.
func (ps *peerSet) peers() []string {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.list
}

// state reports whether p may be sent a request at now, and when it went
// down (zero if it is up). A down peer whose backoff has passed is given to
// one caller, whose request is the probe that finds it back; the others see
// it down until that request's outcome, or for probeWindow if there is none
// (its client left).
func (ps *peerSet) state(p string, now time.Time) (usable bool, downSince, retryAt time.Time) {
	ps.mu.RLock()
	h := ps.health[p]
	if h == nil {
		ps.mu.RUnlock()
		return true, time.Time{}, time.Time{}
	}
	if now.Before(h.retryAt) {
		defer ps.mu.RUnlock()
		return false, h.downSince, h.retryAt
	}
	ps.mu.RUnlock()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	h = ps.health[p]
	switch {
	case h == nil:
		return true, time.Time{}, time.Time{}
	case now.Before(h.retryAt):
		return false, h.downSince, h.retryAt
	}
	h.probing = true
	h.retryAt = now.Add(ps.probeWindow)
	return true, h.downSince, h.retryAt
}

// down reports whether p is marked down, without claiming a probe.
func (ps *peerSet) down(p string) bool {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	return ps.health[p] != nil
}

// fail records that p could not be reached at now. It returns true when p
// was up until then. A failed probe doubles the backoff; failures of
// requests that were under way when p was marked down do not.
func (ps *peerSet) fail(p string, now time.Time, err error) (wentDown bool, backoff time.Duration) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, found := slices.BinarySearch(ps.list, p); !found {
		return false, 0
	}
	h := ps.health[p]
	switch {
	case h == nil:
		h = &health{downSince: now, backoff: MinBackoff}
		ps.health[p] = h
		wentDown = true
	case h.probing:
		h.probing = false
		h.backoff = min(2*h.backoff, MaxBackoff)
	case now.Before(h.retryAt):
		return false, h.backoff
	}
	h.retryAt, h.lastErr = now.Add(h.backoff), err
	return wentDown, h.backoff
}

// ok records that p answered. It returns true when p was down until then.
func (ps *peerSet) ok(p string) (cameUp bool) {
	ps.mu.RLock()
	_, down := ps.health[p]
	ps.mu.RUnlock()
	if !down {
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, down = ps.health[p]
	delete(ps.health, p)
	return down
}

// resolve looks up the peers of name ("host:port").
func resolve(ctx context.Context, r Resolver, hostport string) ([]string, error) {
	host, port, _ := net.SplitHostPort(hostport)
	addrs, err := r.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, net.JoinHostPort(a, port))
	}
	return out, nil
}

// refresh resolves the peers' DNS name every interval until ctx ends.
func (rt *Router) refresh(ctx context.Context) {
	defer close(rt.done)
	t := time.NewTicker(rt.cfg.resolveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rt.resolveOnce(ctx)
	}
}

// resolveOnce updates the peers from DNS. A failed lookup keeps the last
// set: a DNS hiccup must not make every node think it is alone.
func (rt *Router) resolveOnce(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, rt.cfg.resolveEvery)
	defer cancel()
	peers, err := resolve(ctx, rt.cfg.resolver, rt.cfg.peerDNS)
	if err != nil {
		if !errors.Is(parent.Err(), context.Canceled) { // not Close
			rt.log.Warn("affinity: peer lookup failed; keeping the last peers", "name", rt.cfg.peerDNS, "err", err)
		}
		return
	}
	if rt.peers.set(peers) {
		rt.log.Info("affinity: peers changed", "peers", rt.peers.peers())
	}
}

// selfFromEnv finds this node's address from POD_IP.
func selfFromEnv(c *config) (string, bool) {
	ip := c.getenv("POD_IP")
	if ip == "" {
		return "", false
	}
	if c.peerDNS != "" {
		_, port, _ := net.SplitHostPort(c.peerDNS)
		return net.JoinHostPort(ip, port), true
	}
	for _, p := range c.peers {
		if host, _, _ := net.SplitHostPort(p); host == ip {
			return p, true
		}
	}
	return "", false
}
