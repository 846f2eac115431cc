package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/tether-go/tether/affinity"
)

// affinityFlags are the flags that put an affinity Router in front of the
// session routes, so that a plain round-robin balancer will do.
type affinityFlags struct {
	peers     string        // -peers: comma-separated host:port of every node
	peerDNS   string        // -peer-dns: name:port of a headless Service
	self      string        // -self: this node's address among them
	localHold time.Duration // -local-hold: with -bolt, hold a lost owner's users
	bolt      bool          // sessions are in a file on this node only
}

// enabled reports whether the node routes by affinity.
func (f affinityFlags) enabled() bool { return f.peers != "" || f.peerDNS != "" }

// options turns the flags into Router options. With -bolt, sessions live on
// their owner only: while it is down its users get 503 with Retry-After for
// up to -local-hold (a StatefulSet pod comes back with its volume), rather
// than being logged out by another node. With Redis they are shared, and
// another node serves them at once.
func (f affinityFlags) options(log *slog.Logger, obs affinity.Observer) ([]affinity.Option, error) {
	opts := []affinity.Option{affinity.WithLogger(log), affinity.WithObserver(obs)}
	switch {
	case f.peers != "" && f.peerDNS != "":
		return nil, errors.New("-peers and -peer-dns: give one")
	case f.peers != "":
		opts = append(opts, affinity.WithPeers(strings.Split(f.peers, ",")...))
	case f.peerDNS != "":
		host, port, err := net.SplitHostPort(f.peerDNS)
		if err != nil {
			return nil, fmt.Errorf("-peer-dns %q: want name:port: %w", f.peerDNS, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("-peer-dns %q: bad port", f.peerDNS)
		}
		opts = append(opts, affinity.WithPeerDNS(host, n))
	default:
		return nil, errors.New("no -peers or -peer-dns")
	}
	if f.self != "" {
		opts = append(opts, affinity.WithSelf(f.self))
	}
	if f.bolt {
		opts = append(opts, affinity.WithLocalSessions(f.localHold))
	}
	return opts, nil
}

// newRouter builds the Router the flags describe.
func (f affinityFlags) newRouter(ctx context.Context, log *slog.Logger, obs affinity.Observer) (*affinity.Router, error) {
	opts, err := f.options(log, obs)
	if err != nil {
		return nil, err
	}
	return affinity.New(ctx, opts...)
}
