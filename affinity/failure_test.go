package affinity_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

// TestOwnerDownSharedSessions: shared sessions (the default). The owner's
// port refuses: the request goes to the next peer at once, the owner is
// marked down and not tried for a second, then a request probes it, and
// when it answers again it is up and serves its keys.
func TestOwnerDownSharedSessions(t *testing.T) {
	clk := newClock()
	rec := &recorder{}
	nodes := cluster(t, 3, affinity.WithObserver(rec), affinity.WithClock(clk.Now))
	key := keyOwnedBy(t, nodes, 2)
	nodes[2].kill()
	res := get(t, nodes[0].addr, key)
	fallback := res.Header.Get("X-Node")
	if res.StatusCode != 200 || fallback == nodes[2].addr || fallback == "" {
		t.Fatalf("owner down: status %d, served by %q", res.StatusCode, fallback)
	}
	if d := rec.lastRoute(); d.Route != affinity.RouteFallback || d.Owner != nodes[2].addr {
		t.Fatalf("observed %+v, want fallback", d)
	}
	ev := rec.peerEvents()
	if len(ev) != 1 || ev[0].Up || ev[0].Peer != nodes[2].addr || ev[0].Backoff != affinity.MinBackoff || ev[0].Err == nil {
		t.Fatalf("peer events %+v, want one down of %s", ev, nodes[2].addr)
	}
	// The owner is back at once, but not tried before its backoff.
	nodes[2].start(t)
	if got := get(t, nodes[0].addr, key).Header.Get("X-Node"); got != fallback {
		t.Fatalf("during backoff: served by %s, want the fallback %s", got, fallback)
	}
	clk.Add(affinity.MinBackoff)
	if got := get(t, nodes[0].addr, key).Header.Get("X-Node"); got != nodes[2].addr {
		t.Fatalf("after backoff: served by %s, want the owner back", got)
	}
	ev = rec.peerEvents()
	if len(ev) != 2 || !ev[1].Up || ev[1].Peer != nodes[2].addr {
		t.Fatalf("peer events %+v, want the owner up again", ev)
	}
}

// TestHoldLocalSessions: with local sessions, while the owner is down its
// users get 503 with Retry-After (the time to the next probe, doubling up
// to MaxBackoff) for at most hold; then the next peer serves them.
func TestHoldLocalSessions(t *testing.T) {
	clk := newClock()
	rec := &recorder{}
	const hold = 40 * time.Second
	nodes := cluster(t, 3, affinity.WithObserver(rec), affinity.WithClock(clk.Now), affinity.WithLocalSessions(hold))
	key := keyOwnedBy(t, nodes, 1)
	nodes[1].kill()
	start := clk.Now()
	wantRetry := []int{1, 2, 4, 8, 16, 30}
	for i, want := range wantRetry {
		res := get(t, nodes[0].addr, key)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != strconv.Itoa(want) {
			t.Fatalf("probe %d at +%v: status %d, Retry-After %q, want 503 and %d", i, clk.Now().Sub(start), res.StatusCode, res.Header.Get("Retry-After"), want)
		}
		if d := rec.lastRoute(); d.Route != affinity.RouteHeld {
			t.Fatalf("observed %+v, want held", d)
		}
		// Half-way to the next probe: still held, Retry-After counts down.
		clk.Add(time.Duration(want) * time.Second / 2)
		if clk.Now().Sub(start) >= hold {
			break
		}
		res = get(t, nodes[0].addr, key)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("between probes: status %d", res.StatusCode)
		}
		clk.Add(time.Duration(want) * time.Second / 2)
		if clk.Now().Sub(start) >= hold {
			break
		}
	}
	if n := len(rec.peerEvents()); n != 1 {
		t.Fatalf("%d peer events during one outage, want 1", n)
	}
	clk.Add(hold)
	res := get(t, nodes[0].addr, key)
	if got := res.Header.Get("X-Node"); res.StatusCode != 200 || got == nodes[1].addr || got == "" {
		t.Fatalf("after hold: status %d served by %q, want the next peer", res.StatusCode, got)
	}
	if d := rec.lastRoute(); d.Route != affinity.RouteFallback {
		t.Fatalf("observed %+v, want fallback", d)
	}
}

// TestHoldZero: WithLocalSessions(0) serves at once, like shared sessions.
func TestHoldZero(t *testing.T) {
	nodes := cluster(t, 2, affinity.WithLocalSessions(0))
	key := keyOwnedBy(t, nodes, 1)
	nodes[1].kill()
	if res := get(t, nodes[0].addr, key); res.StatusCode != 200 || res.Header.Get("X-Node") != nodes[0].addr {
		t.Fatalf("status %d served by %s", res.StatusCode, res.Header.Get("X-Node"))
	}
}

// TestRetriesOnlyUnsentBodies: when the owner refuses the connection, a
// POST goes to the next peer with its body intact; when the owner took the
// request and then failed, the request is not sent again: 502.
func TestRetriesOnlyUnsentBodies(t *testing.T) {
	// A peer that reads a request, body included, and hangs up.
	taker, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taker.Close()
	took := make(chan string, 4)
	go func() {
		for {
			c, err := taker.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err == nil {
				b, _ := io.ReadAll(req.Body)
				took <- string(b)
			}
			c.Close()
		}
	}()
	// A peer whose port refuses.
	refuser, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := refuser.Addr().String()
	refuser.Close()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	nd := &node{addr: ln.Addr().String(), ln: ln}
	rec := &recorder{}
	rt, err := affinity.New(context.Background(),
		affinity.WithPeers(nd.addr, taker.Addr().String(), refused),
		affinity.WithSelf(nd.addr), affinity.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	nd.rt = rt
	nd.start(t)

	post := func(key string) *http.Response {
		req, _ := http.NewRequest("POST", "http://"+nd.addr+"/", strings.NewReader("pay=100"))
		req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
		res, err := noKeepAlive.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	// Owned by the refusing peer, with this node next.
	var key string
	for k := 0; k < 100000 && key == ""; k++ {
		if o := owner3(rt, routeKey(k)); o[0] == refused && o[1] == nd.addr {
			key = routeKey(k)
		}
	}
	res := post(key)
	if res.StatusCode != 200 || res.Header.Get("X-Node") != nd.addr || res.Header.Get("X-Body") != "pay=100" {
		t.Fatalf("owner refused: status %d, node %q, body %q", res.StatusCode, res.Header.Get("X-Node"), res.Header.Get("X-Body"))
	}
	// Owned by the taking peer: it read the body and failed.
	key = ""
	for k := 0; k < 100000 && key == ""; k++ {
		if o := owner3(rt, routeKey(k)); o[0] == taker.Addr().String() {
			key = routeKey(k)
		}
	}
	served := nd.served.Load()
	res = post(key)
	if res.StatusCode != http.StatusBadGateway {
		t.Fatalf("owner failed after taking the request: status %d, want 502", res.StatusCode)
	}
	if got := <-took; got != "pay=100" {
		t.Fatalf("the owner got body %q", got)
	}
	if nd.served.Load() != served || len(took) != 0 {
		t.Fatal("a request whose body was sent was sent again")
	}
	if d := rec.lastRoute(); d.Route != affinity.RouteFailed {
		t.Fatalf("observed %+v, want failed", d)
	}
}

// owner3 returns the key's preference order among three peers, computed
// from Owner over shrinking peer lists by removing the winner: the rank.
func owner3(rt *affinity.Router, key string) []string {
	peers := rt.Peers()
	var order []string
	for len(peers) > 0 {
		best, bs := "", uint64(0)
		for _, p := range peers {
			if s := affinity.Score(p, key); best == "" || s > bs {
				best, bs = p, s
			}
		}
		order = append(order, best)
		for i, p := range peers {
			if p == best {
				peers = append(peers[:i:i], peers[i+1:]...)
				break
			}
		}
	}
	return order
}

// TestClientGoneIsNotPeerDown: a client that leaves while the owner works
// does not get the owner marked down.
func TestClientGoneIsNotPeerDown(t *testing.T) {
	rec := &recorder{}
	nodes := newCluster(t, 2, affinity.WithObserver(rec))
	release := make(chan struct{})
	nodes[1].inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	for _, nd := range nodes {
		nd.start(t)
	}
	defer close(release)
	key := keyOwnedBy(t, nodes, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+nodes[0].addr+"/", nil)
	req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
	if _, err := noKeepAlive.RoundTrip(req); err == nil {
		t.Fatal("the request did not time out")
	}
	time.Sleep(100 * time.Millisecond) // let the entry node see the client go
	if ev := rec.peerEvents(); len(ev) != 0 {
		t.Fatalf("peer events %+v after a client left", ev)
	}
	// Still observed once, as the route it took: Routed is called for
	// every request the Router handled.
	rec.mu.Lock()
	var routes []affinity.RouteData // the entry node's: the owner's is "received"
	for _, d := range rec.routes {
		if d.Route != affinity.RouteReceived {
			routes = append(routes, d)
		}
	}
	rec.mu.Unlock()
	if len(routes) != 1 || routes[0].Route != affinity.RouteForwarded || routes[0].Peer != nodes[1].addr {
		t.Fatalf("observed %+v, want one forwarded to %s", routes, nodes[1].addr)
	}
}

// TestUnresolvablePeerIsDown: a peer named by a host name that does not
// resolve (a StatefulSet pod that is not ready has no DNS record) is down
// like one that refuses: the request goes to the next peer.
func TestUnresolvablePeerIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self, gone := ln.Addr().String(), "app-1.app-headless.invalid:8080"
	rec := &recorder{}
	rt, err := affinity.New(context.Background(), affinity.WithPeers(self, gone), affinity.WithSelf(self), affinity.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	nd := &node{addr: self, ln: ln, rt: rt}
	nd.start(t)
	var key string
	for k := 0; key == ""; k++ {
		if rt.Owner(routeKey(k)) == gone {
			key = routeKey(k)
		}
	}
	res := get(t, self, key)
	if res.StatusCode != 200 || res.Header.Get("X-Node") != self {
		t.Fatalf("status %d from %q", res.StatusCode, res.Header.Get("X-Node"))
	}
	if ev := rec.peerEvents(); len(ev) != 1 || ev[0].Peer != gone || ev[0].Up {
		t.Fatalf("peer events %+v", ev)
	}
}

// TestNewClientsAvoidDownOwners: a client without a routing key has no
// session anywhere, so it is not held for a down owner: it gets a key that
// a live replica owns, and keeps it when the down one returns.
func TestNewClientsAvoidDownOwners(t *testing.T) {
	clk := newClock()
	nodes := cluster(t, 3, affinity.WithClock(clk.Now), affinity.WithLocalSessions(time.Minute))
	nodes[2].kill()
	// Mark it down, through a client whose key it owns.
	if res := get(t, nodes[0].addr, keyOwnedBy(t, nodes, 2)); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("known client of the down owner: status %d, want 503", res.StatusCode)
	}
	for i := range 30 {
		res := get(t, nodes[0].addr, "")
		if res.StatusCode != 200 {
			t.Fatalf("new client %d: status %d", i, res.StatusCode)
		}
		cookies := res.Cookies()
		if len(cookies) != 1 || nodes[0].rt.Owner(cookies[0].Value) == nodes[2].addr {
			t.Fatalf("new client %d: cookies %v, owned by the down peer", i, cookies)
		}
	}
}
