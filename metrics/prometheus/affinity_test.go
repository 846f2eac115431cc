package tetherprom_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/tether-go/tether/affinity"
)

// Every route is counted under its own name, and peer changes by state;
// all series exist from the first scrape.
func TestAffinityRoutes(t *testing.T) {
	c, reg := registered(t)
	s := scrape(t, reg)
	routes := []affinity.Route{affinity.RouteLocal, affinity.RouteReceived, affinity.RouteForwarded, affinity.RouteFallback, affinity.RouteHeld, affinity.RouteFailed}
	for _, r := range routes {
		name := `tether_affinity_requests_total{route="` + r.String() + `"}`
		if v, ok := s[name]; !ok || v != 0 {
			t.Errorf("before any request: %s = %v, %v", name, v, ok)
		}
	}
	ctx := context.Background()
	for i, r := range routes {
		for range i + 1 {
			c.Routed(ctx, affinity.RouteData{Route: r})
		}
	}
	c.Routed(ctx, affinity.RouteData{Route: affinity.Route(99)})
	c.PeerChanged(ctx, affinity.PeerData{Peer: "10.0.0.1:80", Err: errors.New("refused")})
	c.PeerChanged(ctx, affinity.PeerData{Peer: "10.0.0.1:80", Err: errors.New("refused")})
	c.PeerChanged(ctx, affinity.PeerData{Peer: "10.0.0.1:80", Up: true})
	s = scrape(t, reg)
	for i, r := range routes {
		name := `tether_affinity_requests_total{route="` + r.String() + `"}`
		if got := s[name]; got != float64(i+1) {
			t.Errorf("%s = %v, want %d", name, got, i+1)
		}
	}
	if got := s[`tether_affinity_requests_total{route="unknown"}`]; got != 1 {
		t.Errorf("unknown route counted %v times", got)
	}
	if down, up := s[`tether_affinity_peer_changes_total{state="down"}`], s[`tether_affinity_peer_changes_total{state="up"}`]; down != 2 || up != 1 {
		t.Errorf("peer changes down %v up %v, want 2 and 1", down, up)
	}
}

// A Router given the Collector counts its requests: two replicas on
// loopback, one request owned by the other one, one by this one.
func TestAffinityRouterObserved(t *testing.T) {
	c, reg := registered(t)
	lnA, _ := net.Listen("tcp", "127.0.0.1:0")
	lnB, _ := net.Listen("tcp", "127.0.0.1:0")
	peers := []string{lnA.Addr().String(), lnB.Addr().String()}
	var rts []*affinity.Router
	for _, ln := range []net.Listener{lnA, lnB} {
		rt, err := affinity.New(context.Background(), affinity.WithPeers(peers...), affinity.WithSelf(ln.Addr().String()), affinity.WithObserver(c),
			affinity.WithKeyFunc(func(r *http.Request) (string, bool) { return r.URL.Query().Get("k"), true }))
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		srv := &http.Server{Handler: rt.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))}
		go srv.Serve(ln)
		defer srv.Close()
		rts = append(rts, rt)
	}
	var mine, theirs string
	for k := 0; mine == "" || theirs == ""; k++ {
		key := string(rune('a'+k%26)) + string(rune('a'+k/26))
		if rts[0].Owner(key) == peers[0] {
			mine = key
		} else {
			theirs = key
		}
	}
	tr := &http.Transport{DisableKeepAlives: true}
	for _, k := range []string{mine, theirs} {
		res, err := tr.RoundTrip(mustGet("http://" + peers[0] + "/?k=" + k))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	s := scrape(t, reg)
	for route, want := range map[string]float64{"local": 1, "forwarded": 1, "received": 1, "fallback": 0} {
		if got := s[`tether_affinity_requests_total{route="`+route+`"}`]; got != want {
			t.Errorf("route %s counted %v, want %v", route, got, want)
		}
	}
}

func mustGet(u string) *http.Request {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		panic(err)
	}
	return req
}
