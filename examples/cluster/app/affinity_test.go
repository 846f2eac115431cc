package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	tetherprom "github.com/tether-go/tether/metrics/prometheus"
)

func TestAffinityFlagsRejected(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for name, f := range map[string]affinityFlags{
		"both peer sources":     {peers: "a:1,b:1", peerDNS: "peers:1", self: "a:1"},
		"peer-dns without port": {peerDNS: "peers", self: "a:1"},
		"peer-dns bad port":     {peerDNS: "peers:http", self: "a:1"},
		"self not a peer":       {peers: "a:1,b:1", self: "c:1"},
		"no peers":              {self: "a:1"},
	} {
		if rt, err := f.newRouter(context.Background(), log, tetherprom.New()); err == nil {
			rt.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAffinityRoutesEachUserToOneNode: two nodes on the memory store, each
// with -peers; a browser that alternates between them is served by one
// node and stays logged in, and /healthz is answered by the node asked.
func TestAffinityRoutesEachUserToOneNode(t *testing.T) {
	var lns []net.Listener
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for i, ln := range lns {
		f := affinityFlags{peers: strings.Join(addrs, ","), self: addrs[i]}
		rt, err := f.newRouter(context.Background(), slog.New(slog.DiscardHandler), tetherprom.New())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close() })
		srv := &http.Server{Handler: newHandler(addrs[i], newManager(t), nil, rt.Wrap)}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{DisableKeepAlives: true}
	c := &http.Client{Jar: jar, Transport: tr, Timeout: 5 * time.Second}
	res, err := c.PostForm("http://"+addrs[0]+"/login", map[string][]string{"user": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	owner := res.Header.Get("X-Node")
	// Cookies are per host; both nodes are 127.0.0.1, so the jar sends
	// them to either.
	for i := range 6 {
		res, err := c.Get("http://" + addrs[i%2] + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Node") != owner {
			t.Fatalf("whoami via %s: %d from %s, want 200 from %s", addrs[i%2], res.StatusCode, res.Header.Get("X-Node"), owner)
		}
	}
	for _, a := range addrs {
		res, err := c.Get("http://" + a + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("X-Node") != a {
			t.Fatalf("/healthz of %s answered by %s", a, res.Header.Get("X-Node"))
		}
	}
}
