package affinity_test

import (
	"context"
	"net"
	"net/http"
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

// TestOneHop: two nodes that disagree about a key's owner (as during a DNS
// change) do not bounce a request between them: the node a peer forwarded
// it to serves it.
func TestOneHop(t *testing.T) {
	var lns [2]net.Listener
	var addrs []string
	for i := range lns {
		lns[i], _ = net.Listen("tcp", "127.0.0.1:0")
		addrs = append(addrs, lns[i].Addr().String())
	}
	// Each node's key is one the other node owns.
	var keys [2]string
	for k := 0; keys[0] == "" || keys[1] == ""; k++ {
		key := routeKey(k)
		for i := range 2 {
			if affinity.Score(addrs[1-i], key) > affinity.Score(addrs[i], key) && keys[i] == "" {
				keys[i] = key
			}
		}
	}
	var nodes [2]*node
	for i := range nodes {
		key := keys[i]
		rt, err := affinity.New(context.Background(), affinity.WithPeers(addrs...), affinity.WithSelf(addrs[i]),
			affinity.WithKeyFunc(func(*http.Request) (string, bool) { return key, true }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		nodes[i] = &node{addr: addrs[i], ln: lns[i], rt: rt}
		nodes[i].start(t)
	}
	res := get(t, addrs[0], "")
	if res.StatusCode != 200 || res.Header.Get("X-Node") != addrs[1] {
		t.Fatalf("status %d, served by %q, want %s after one hop", res.StatusCode, res.Header.Get("X-Node"), addrs[1])
	}
	if nodes[0].served.Load() != 0 || nodes[1].served.Load() != 1 {
		t.Fatalf("served %d and %d times", nodes[0].served.Load(), nodes[1].served.Load())
	}
}
