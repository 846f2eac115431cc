package affinity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults of the options below.
const (
	// DefaultCookieName is the routing cookie's name. It must differ from
	// the session cookie's.
	DefaultCookieName = "tether_route"

	// DefaultCookieMaxAge is how long a browser keeps the routing cookie:
	// 400 days, the most browsers accept. It should outlive any session, or
	// a user with a live session would be moved to another replica.
	DefaultCookieMaxAge = 400 * 24 * time.Hour

	// DefaultResolveEvery is how often [WithPeerDNS]'s name is resolved
	// again.
	DefaultResolveEvery = 5 * time.Second

	// DefaultDialTimeout bounds the connection to a peer. Peers are on the
	// same network; a peer that takes longer to accept is treated as down.
	DefaultDialTimeout = time.Second

	// Backoff of a peer that could not be reached: it is tried again after
	// MinBackoff, then after twice as long at each further failure, up to
	// MaxBackoff.
	MinBackoff = time.Second
	MaxBackoff = 30 * time.Second
)

// HopHeader marks a request that a peer forwarded. A node serves a request
// that carries it locally, whatever the routing says, so a request makes at
// most one hop. The header is removed before the request reaches the
// wrapped handler.
const HopHeader = "Tether-Affinity-Hop"

// A Resolver looks up the addresses of a host name. *net.Resolver is one.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Cookie configures the routing cookie of [WithCookie]. Its value is a
// random key, never the session token: it names no session and grants
// nothing, it only decides which replica serves.
type Cookie struct {
	// Name of the cookie. Default: [DefaultCookieName].
	Name string
	// Path. Default: "/".
	Path string
	// Domain. Default: none (the host only).
	Domain string
	// Secure restricts the cookie to HTTPS. Default: false, unlike the
	// session cookie: this one grants nothing, and a Secure cookie sent over
	// plain HTTP is dropped by browsers, which would give every request a
	// new key and silently undo the routing. The cookie is Secure anyway
	// when the request came over HTTPS (TLS, or X-Forwarded-Proto: https
	// from the proxy), so that no plain-HTTP response can overwrite it.
	Secure bool
	// MaxAge is how long the browser keeps it. Default:
	// [DefaultCookieMaxAge].
	MaxAge time.Duration
}

type keyKind int

const (
	keyUnset keyKind = iota
	keyCookie
	keyClientIP
	keyFunc
)

type config struct {
	peers        []string
	peerDNS      string
	resolver     Resolver
	resolveEvery time.Duration
	self         string
	getenv       func(string) string

	keyKind  keyKind
	keyKinds int // how many key options were given
	cookie   Cookie
	trusted  []netip.Prefix
	keyFn    func(*http.Request) (string, bool)

	localSessions bool
	hold          time.Duration

	dialTimeout time.Duration
	observer    Observer
	logger      *slog.Logger
	now         func() time.Time
}

// An Option configures a [Router]. Invalid values are reported by [New].
type Option func(*config) error

// WithPeers sets the replicas as a fixed list of "host:port" addresses,
// this node's own among them (see [WithSelf]). Names are resolved when a
// request is forwarded, so the stable names of StatefulSet pods
// ("app-0.app-headless:8080") keep each user on the same pod across
// restarts even though its IP changes.
//
// Exactly one of WithPeers and [WithPeerDNS] is required.
func WithPeers(addrs ...string) Option {
	return func(c *config) error {
		if len(addrs) == 0 {
			return errors.New("affinity: WithPeers: no address")
		}
		seen := map[string]bool{}
		for _, a := range addrs {
			if err := checkHostPort(a); err != nil {
				return fmt.Errorf("affinity: WithPeers: %w", err)
			}
			if !seen[a] {
				seen[a] = true
				c.peers = append(c.peers, a)
			}
		}
		return nil
	}
}

// WithPeerDNS takes the replicas from the addresses a DNS name resolves to,
// each with port: a Kubernetes headless Service's name lists the IPs of its
// pods. The name is resolved by New and then every [WithResolveEvery]; a
// failed lookup keeps the last known set (New starts with this node alone
// when its first lookup fails, so the first pod of a Deployment can start).
//
// Peers are identified by IP, so a pod that restarts with a new IP comes
// back as a new peer: suitable for shared or hybrid stores, whose sessions
// survive a move. Sessions kept on a pod's own disk need stable identities:
// use [WithPeers] with the StatefulSet's pod names.
func WithPeerDNS(name string, port int) Option {
	return func(c *config) error {
		if name == "" {
			return errors.New("affinity: WithPeerDNS: empty name")
		}
		if port <= 0 || port > 65535 {
			return fmt.Errorf("affinity: WithPeerDNS: port %d out of range", port)
		}
		c.peerDNS = net.JoinHostPort(name, strconv.Itoa(port))
		return nil
	}
}

// WithResolveEvery sets how often the name of [WithPeerDNS] is resolved
// again: the delay before a new pod gets its share of users, and before a
// removed one stops being tried.
//
// Default: [DefaultResolveEvery] (5 seconds).
func WithResolveEvery(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("affinity: WithResolveEvery(%v): must be positive", d)
		}
		c.resolveEvery = d
		return nil
	}
}

// WithResolver sets the resolver of [WithPeerDNS].
//
// Default: net.DefaultResolver.
func WithResolver(r Resolver) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("affinity: WithResolver(nil)")
		}
		c.resolver = r
		return nil
	}
}

// WithSelf sets this node's own address, as the other nodes reach it: one
// of the [WithPeers] addresses, or this pod's IP and the [WithPeerDNS] port.
//
// Default: from the environment variable POD_IP (set it from the pod's
// status.podIP): with WithPeerDNS, POD_IP and the port; with WithPeers, the
// one address whose host is POD_IP. New fails when there is neither.
func WithSelf(addr string) Option {
	return func(c *config) error {
		if err := checkHostPort(addr); err != nil {
			return fmt.Errorf("affinity: WithSelf: %w", err)
		}
		c.self = addr
		return nil
	}
}

// WithCookie routes by a routing cookie holding a random key, set on the
// first response to a client that has none (or an invalid one). Zero fields
// of ck take their defaults. This is the default key.
//
// A client can choose its key, and so its replica. It gains nothing by it:
// the key grants no access to any session, and keeping one client's
// requests on one replica is what the routing does anyway.
//
// A Path or Domain that net/http would leave out, and a __Host- or
// __Secure- name without the attributes browsers require of it, are
// rejected: browsers would not send the cookie back, and every request
// would be routed anew.
//
// Exactly one of WithCookie, [WithClientIP] and [WithKeyFunc] may be given.
func WithCookie(ck Cookie) Option {
	return func(c *config) error {
		if ck.MaxAge < 0 {
			return fmt.Errorf("affinity: WithCookie: negative MaxAge %v", ck.MaxAge)
		}
		if ck.Name != "" && !validCookieName(ck.Name) {
			return fmt.Errorf("affinity: WithCookie: invalid cookie name %q", ck.Name)
		}
		if err := checkCookie(ck); err != nil {
			return fmt.Errorf("affinity: WithCookie: %w", err)
		}
		c.keyKind, c.cookie = keyCookie, ck
		c.keyKinds++
		return nil
	}
}

// WithClientIP routes by the client's IP address: the connection's peer
// address, or, when that is one of the trusted proxies (CIDR prefixes such
// as "10.0.0.0/8" or single addresses), the rightmost address of
// X-Forwarded-For that is not a trusted proxy. X-Forwarded-For from any
// other connection is ignored: a client could write anything there.
//
// IPv6 clients are keyed by their /64 network, because privacy extensions
// change the rest of the address every few hours.
//
// No cookie is needed, but users behind one NAT share a replica and a
// phone that changes networks changes replica.
func WithClientIP(trustedProxies ...string) Option {
	return func(c *config) error {
		var ps []netip.Prefix
		for _, s := range trustedProxies {
			p, err := parsePrefix(s)
			if err != nil {
				return fmt.Errorf("affinity: WithClientIP: %w", err)
			}
			ps = append(ps, p)
		}
		c.keyKind, c.trusted = keyClientIP, ps
		c.keyKinds++
		return nil
	}
}

// WithKeyFunc routes by the key fn returns, for example a tenant or an API
// key's ID. When fn returns ok false, the node that received the request
// serves it.
func WithKeyFunc(fn func(r *http.Request) (key string, ok bool)) Option {
	return func(c *config) error {
		if fn == nil {
			return errors.New("affinity: WithKeyFunc(nil)")
		}
		c.keyKind, c.keyFn = keyFunc, fn
		c.keyKinds++
		return nil
	}
}

// WithLocalSessions declares that sessions live on their owner only (the
// memory store, or a file on the owner's disk), so another replica cannot
// serve a user's session. While the owner is unreachable, its users get
// 503 Service Unavailable with Retry-After instead of being served by the
// next replica, for at most hold from the moment this node found the owner
// down: long enough for a StatefulSet pod to come back with its volume.
// After hold the next replica serves them: without their session, which
// logs them out.
//
// Without this option sessions are taken to be shared (an external or
// hybrid store), and the next replica serves at once: it finds the session
// in the shared store.
//
// Default: shared sessions. A hold of 0 serves at once too, but says that
// the users of a lost replica are logged out.
func WithLocalSessions(hold time.Duration) Option {
	return func(c *config) error {
		if hold < 0 {
			return fmt.Errorf("affinity: WithLocalSessions(%v): negative hold", hold)
		}
		c.localSessions, c.hold = true, hold
		return nil
	}
}

// WithDialTimeout bounds the connection to a peer; a peer that does not
// accept in time is marked down.
//
// Default: [DefaultDialTimeout] (1 second).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("affinity: WithDialTimeout(%v): must be positive", d)
		}
		c.dialTimeout = d
		return nil
	}
}

// WithObserver sets who is told how each request was routed and when a
// peer goes down or comes back (package metrics/prometheus has one).
//
// Default: none.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("affinity: WithObserver(nil)")
		}
		c.observer = o
		return nil
	}
}

// WithLogger sets where the Router reports peers going down and coming
// back, and failed DNS lookups.
//
// Default: [slog.Default] at the time New is called.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("affinity: WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q: no host", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%q: bad port", a)
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkCookie rejects a routing cookie that net/http would write without
// its Path or Domain, or that browsers would refuse to store: either way
// every request would come without it, get a new key, and be routed
// anywhere.
func checkCookie(ck Cookie) error {
	if err := (&http.Cookie{Name: "x", Path: ck.Path, Domain: ck.Domain}).Valid(); err != nil {
		return err
	}
	// Browsers match the prefixes case-insensitively.
	name := strings.ToLower(ck.Name)
	switch {
	case strings.HasPrefix(name, "__host-") && (!ck.Secure || ck.Domain != "" || (ck.Path != "" && ck.Path != "/")):
		return fmt.Errorf("cookie %q: a __Host- cookie must be Secure, without Domain, on Path /", ck.Name)
	case strings.HasPrefix(name, "__secure-") && !ck.Secure:
		return fmt.Errorf("cookie %q: a __Secure- cookie must be Secure", ck.Name)
	}
	return nil
}

// validCookieName reports whether name is a token (RFC 7230), as a cookie
// name must be.
func validCookieName(name string) bool {
	for i := 0; i < len(name); i++ {
		b := name[i]
		if b <= ' ' || b >= 0x7f || isSeparator(b) {
			return false
		}
	}
	return name != ""
}

func isSeparator(b byte) bool {
	switch b {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return true
	}
	return false
}
