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

	mu     sync.RWMutex
	list   []string           // sorted, self included; replaced, never changed in place
	health map[string]*health // peers that failed; absent means up
}

// health is the state of a peer that failed to answer.
type health struct {
	downSince time.Time     // first failure of this outage
	retryAt   time.Time     // no request is sent before then
	backoff   time.Duration // the wait after the next failure is twice this
	lastErr   error
}

func newPeerSet(self string, peers []string) *peerSet {
	ps := &peerSet{self: self, health: map[string]*health{}}
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
// down (zero if it is up). A down peer whose backoff has passed may be sent
// one: that request is the probe that finds it back.
func (ps *peerSet) state(p string, now time.Time) (usable bool, downSince, retryAt time.Time) {
	ps.mu.RLock()
	defer ps.mu.RUnlock()
	h := ps.health[p]
	if h == nil {
		return true, time.Time{}, time.Time{}
	}
	return !now.Before(h.retryAt), h.downSince, h.retryAt
}

// fail records that p could not be reached at now. It returns true when p
// was up until then. Failures of requests that were already under way when
// an earlier one marked p down do not lengthen the backoff: only a failed
// probe does.
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
	case now.Before(h.retryAt):
		return false, h.backoff
	default:
		h.backoff = min(2*h.backoff, MaxBackoff)
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
