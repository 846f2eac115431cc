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

// TestForwardsToOwner: whichever node a request reaches, the key's owner
// serves it, with one hop at most.
func TestForwardsToOwner(t *testing.T) {
	rec := &recorder{}
	nodes := cluster(t, 3, affinity.WithObserver(rec))
	for owner := range nodes {
		key := keyOwnedBy(t, nodes, owner)
		for entry := range nodes {
			res := get(t, nodes[entry].addr, key)
			if got := res.Header.Get("X-Node"); got != nodes[owner].addr {
				t.Fatalf("key of node %d sent to node %d: served by %s, want %s", owner, entry, got, nodes[owner].addr)
			}
			want := affinity.RouteForwarded
			if entry == owner {
				want = affinity.RouteLocal
			}
			if d := rec.lastRoute(); d.Route != want || d.Owner != nodes[owner].addr {
				t.Fatalf("key of node %d sent to node %d: observed %+v, want route %v", owner, entry, d, want)
			}
		}
	}
	total := int64(0)
	for _, nd := range nodes {
		total += nd.served.Load()
	}
	if total != 9 {
		t.Fatalf("handlers ran %d times for 9 requests", total)
	}
}

// TestForwardedRequestAsSent: the owner sees the client's Host, path and
// query, and the entry node's client in X-Forwarded-For; it does not see
// the hop marker.
func TestForwardedRequestAsSent(t *testing.T) {
	nodes := cluster(t, 2)
	key := keyOwnedBy(t, nodes, 1)
	req, _ := http.NewRequest("GET", "http://"+nodes[0].addr+"/a/b?c=d", nil)
	req.Host = "shop.example"
	req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https")
	res, err := noKeepAlive.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	r := nodes[1].last.Load()
	if r == nil || res.Header.Get("X-Node") != nodes[1].addr {
		t.Fatal("the owner did not serve")
	}
	if r.Host != "shop.example" || r.URL.Path != "/a/b" || r.URL.RawQuery != "c=d" {
		t.Errorf("owner saw host %q path %q query %q", r.Host, r.URL.Path, r.URL.RawQuery)
	}
	if got := r.Header.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto %q, want the client's https kept", got)
	}
	if _, ok := r.Header[affinity.HopHeader]; ok {
		t.Errorf("the handler saw the hop marker")
	}
}

// TestForgedHopMarker: a client that sends the marker itself only makes
// the node it reached serve the request; the handler does not see it.
func TestForgedHopMarker(t *testing.T) {
	rec := &recorder{}
	nodes := cluster(t, 2, affinity.WithObserver(rec))
	key := keyOwnedBy(t, nodes, 1)
	res := get(t, nodes[0].addr, key, affinity.HopHeader, "1")
	if got := res.Header.Get("X-Node"); got != nodes[0].addr {
		t.Fatalf("forged marker: served by %s, want the entry node %s", got, nodes[0].addr)
	}
	if nodes[1].served.Load() != 0 {
		t.Fatal("forged marker: the request was forwarded")
	}
	if _, ok := nodes[0].last.Load().Header[affinity.HopHeader]; ok {
		t.Fatal("the handler saw the forged marker")
	}
	if d := rec.lastRoute(); d.Route != affinity.RouteReceived {
		t.Fatalf("observed %+v, want received", d)
	}
}

// TestRoutingCookie: a client without the cookie gets one, whose key then
// routes it to the same owner from every node; invalid values are
// replaced, not routed by.
func TestRoutingCookie(t *testing.T) {
	nodes := cluster(t, 3)
	res := get(t, nodes[0].addr, "")
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == affinity.DefaultCookieName {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("no routing cookie set: %v", res.Header["Set-Cookie"])
	}
	if !affinity.ValidRouteKey(ck.Value) || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge != int(affinity.DefaultCookieMaxAge/time.Second) {
		t.Fatalf("routing cookie %+v", ck)
	}
	owner := res.Header.Get("X-Node")
	if owner != nodes[0].rt.Owner(ck.Value) {
		t.Fatalf("first request served by %s, the key's owner is %s", owner, nodes[0].rt.Owner(ck.Value))
	}
	for _, nd := range nodes {
		res := get(t, nd.addr, ck.Value)
		if res.Header.Get("X-Node") != owner {
			t.Fatalf("with the cookie, via %s: served by %s, want %s", nd.addr, res.Header.Get("X-Node"), owner)
		}
		if len(res.Cookies()) != 0 {
			t.Fatalf("a valid cookie was replaced: %v", res.Cookies())
		}
	}
	for _, bad := range []string{"short", strings.Repeat("A", 23), strings.Repeat("A", 21) + "!", strings.Repeat("A", 4096)} {
		res := get(t, nodes[0].addr, bad)
		if len(res.Cookies()) != 1 || res.Cookies()[0].Value == bad {
			t.Fatalf("invalid key %.30q: cookies %v", bad, res.Cookies())
		}
	}
}

func TestValidRouteKey(t *testing.T) {
	for v, want := range map[string]bool{
		"AAAAAAAAAAAAAAAAAAAAAA":    true,
		"abcdefghij-_0123456789Z":   false, // 23
		"abcdefghij-_012345678Z":    true,
		"abcdefghij+/012345678Z":    false, // standard base64
		"abcdefghij==012345678Z":    false,
		"":                          false,
		"AAAAAAAAAAAAAAAAAAAAA\x00": false,
	} {
		if got := affinity.ValidRouteKey(v); got != want {
			t.Errorf("ValidRouteKey(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestKeyFunc routes by the caller's key, and serves locally when it
// declines.
func TestKeyFunc(t *testing.T) {
	nodes := cluster(t, 3, affinity.WithKeyFunc(func(r *http.Request) (string, bool) {
		k := r.Header.Get("X-Tenant")
		return k, k != ""
	}))
	for _, tenant := range []string{"acme", "globex", "initech"} {
		want := nodes[0].rt.Owner(tenant)
		for _, nd := range nodes {
			if got := get(t, nd.addr, "", "X-Tenant", tenant).Header.Get("X-Node"); got != want {
				t.Fatalf("tenant %s via %s: served by %s, want %s", tenant, nd.addr, got, want)
			}
		}
	}
	for _, nd := range nodes {
		if got := get(t, nd.addr, "").Header.Get("X-Node"); got != nd.addr {
			t.Fatalf("no key, via %s: served by %s", nd.addr, got)
		}
	}
}

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
}
