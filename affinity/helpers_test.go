package affinity_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

// node is one replica in process: a listener bound before the Routers are
// made (every Router must know every address), a handler that names the
// node, and counters of what reached the handler.
type node struct {
	addr   string
	ln     net.Listener
	srv    *http.Server
	rt     *affinity.Router
	served atomic.Int64
	last   atomic.Pointer[http.Request] // the last request the handler saw
	inner  http.Handler                 // what Wrap wraps; default: handler()
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// cluster starts n nodes that route among themselves, each with opts.
func cluster(t testing.TB, n int, opts ...affinity.Option) []*node {
	t.Helper()
	nodes := newCluster(t, n, opts...)
	for _, nd := range nodes {
		nd.start(t)
	}
	return nodes
}

// newCluster is cluster without starting the servers, for tests that set
// inner first.
func newCluster(t testing.TB, n int, opts ...affinity.Option) []*node {
	t.Helper()
	nodes := make([]*node, n)
	addrs := make([]string, n)
	for i := range nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = &node{addr: ln.Addr().String(), ln: ln}
		addrs[i] = nodes[i].addr
	}
	for _, nd := range nodes {
		rt, err := affinity.New(context.Background(), append([]affinity.Option{
			affinity.WithPeers(addrs...), affinity.WithSelf(nd.addr),
		}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		nd.rt = rt
		t.Cleanup(func() { rt.Close() })
	}
	return nodes
}

func (nd *node) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nd.served.Add(1)
		nd.last.Store(r)
		w.Header().Set("X-Node", nd.addr)
		if r.Body != nil {
			b, _ := io.ReadAll(r.Body)
			if len(b) > 0 {
				w.Header().Set("X-Body", string(b))
			}
		}
		io.WriteString(w, nd.addr)
	})
}

func (nd *node) start(t testing.TB) {
	t.Helper()
	if nd.ln == nil {
		ln, err := net.Listen("tcp", nd.addr)
		if err != nil {
			t.Fatal(err)
		}
		nd.ln = ln
	}
	h := nd.inner
	if h == nil {
		h = nd.handler()
	}
	nd.srv = &http.Server{Handler: nd.rt.Wrap(h)}
	srv, ln := nd.srv, nd.ln
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// kill stops the node's server: its port refuses connections.
func (nd *node) kill() {
	nd.srv.Close()
	nd.ln = nil
}

// noKeepAlive leaves no idle connection behind for goleak to find.
var noKeepAlive = &http.Transport{DisableKeepAlives: true}

// get sends a GET with the routing cookie key to addr.
func get(t testing.TB, addr, key string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	if key != "" {
		req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := noKeepAlive.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// keyOwnedBy returns a routing key that nodes[i] owns.
// servedByOwner sends req, whose routing key nodes[i] owns, through rt, and
// returns the request as the owner's handler saw it; it fails the test if
// another node answered.
func servedByOwner(t testing.TB, rt http.RoundTripper, req *http.Request, nodes []*node, i int) *http.Request {
	t.Helper()
	req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: keyOwnedBy(t, nodes, i)})
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	r := nodes[i].last.Load()
	if res.Header.Get("X-Node") != nodes[i].addr || r == nil {
		t.Fatalf("served by %q, want the owner", res.Header.Get("X-Node"))
	}
	return r
}

func keyOwnedBy(t testing.TB, nodes []*node, i int) string {
	t.Helper()
	for k := 0; k < 10000; k++ {
		key := routeKey(k)
		if nodes[0].rt.Owner(key) == nodes[i].addr {
			return key
		}
	}
	t.Fatal("no key found")
	return ""
}

// routeKey returns a valid routing cookie value (22 base64url characters)
// made from k.
func routeKey(k int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := []byte("AAAAAAAAAAAAAAAAAAAAAA")
	for i := 0; k > 0; i++ {
		b[i] = alphabet[k%64]
		k /= 64
	}
	return string(b)
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	routes []affinity.RouteData
	peers  []affinity.PeerData
}

func (r *recorder) Routed(_ context.Context, d affinity.RouteData) {
	r.mu.Lock()
	r.routes = append(r.routes, d)
	r.mu.Unlock()
}

func (r *recorder) PeerChanged(_ context.Context, d affinity.PeerData) {
	r.mu.Lock()
	r.peers = append(r.peers, d)
	r.mu.Unlock()
}

func (r *recorder) lastRoute() affinity.RouteData {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.routes) == 0 {
		return affinity.RouteData{}
	}
	return r.routes[len(r.routes)-1]
}

func (r *recorder) peerEvents() []affinity.PeerData {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]affinity.PeerData(nil), r.peers...)
}
