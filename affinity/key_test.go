package affinity_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/tether-go/tether/affinity"
)

func TestClientIPKey(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32")}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
		ok           bool
	}{
		{"direct client", "198.51.100.4:5555", nil, "198.51.100.4", true},
		{"untrusted peer's X-Forwarded-For is ignored", "198.51.100.4:5555", []string{"203.0.113.9"}, "198.51.100.4", true},
		{"trusted proxy", "10.1.2.3:80", []string{"203.0.113.9"}, "203.0.113.9", true},
		{"rightmost untrusted wins over a spoofed left entry", "10.1.2.3:80", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9", true},
		{"chain of trusted proxies", "10.1.2.3:80", []string{"203.0.113.9, 192.0.2.1, 10.9.9.9"}, "203.0.113.9", true},
		{"several header lines", "10.1.2.3:80", []string{"203.0.113.9", "10.2.2.2"}, "203.0.113.9", true},
		{"garbage stops at the proxy that sent it", "10.1.2.3:80", []string{"203.0.113.9, not-an-ip"}, "10.1.2.3", true},
		{"entry with a port", "10.1.2.3:80", []string{"203.0.113.9:4711"}, "203.0.113.9", true},
		{"only trusted entries", "10.1.2.3:80", []string{"10.3.3.3"}, "10.3.3.3", true},
		{"no header behind a proxy", "10.1.2.3:80", nil, "10.1.2.3", true},
		{"empty entries skipped", "10.1.2.3:80", []string{"203.0.113.9, ,"}, "203.0.113.9", true},
		{"IPv6 by /64", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", nil, "2001:db8:1:2::/64", true},
		{"IPv4-mapped IPv6", "[::ffff:198.51.100.4]:1", nil, "198.51.100.4", true},
		{"too many trusted hops", "10.1.2.3:80", []string{"203.0.113.9" + strings.Repeat(", 10.0.0.1", 40)}, "10.0.0.1", true},
		{"no TCP peer", "@", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			if tc.xff != nil {
				r.Header["X-Forwarded-For"] = tc.xff
			}
			got, ok := affinity.ClientIPKey(r, trusted)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("key %q %v, want %q %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestClientIPRouting: with WithClientIP, a client keeps its replica
// whichever node it reaches, through a trusted proxy too.
func TestClientIPRouting(t *testing.T) {
	nodes := cluster(t, 3, affinity.WithClientIP("127.0.0.0/8"))
	for _, client := range []string{"203.0.113.1", "203.0.113.2", "2001:db8::1"} {
		var first string
		for _, nd := range nodes {
			got := get(t, nd.addr, "", "X-Forwarded-For", client).Header.Get("X-Node")
			if first == "" {
				first = got
			}
			if got != first {
				t.Fatalf("client %s: served by %s and by %s", client, first, got)
			}
		}
	}
}

func FuzzClientIPKey(f *testing.F) {
	f.Add("10.1.2.3:80", "203.0.113.9, 10.0.0.1")
	f.Add("[::1]:1", "2001:db8::1, garbage")
	f.Add("x", ",,,")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		key, ok := affinity.ClientIPKey(r, trusted)
		if ok && key == "" {
			t.Fatal("empty key")
		}
		if len(key) > 64 {
			t.Fatalf("key of %d bytes", len(key))
		}
	})
}

// FuzzCookieKey: whatever the Cookie header, the key is a valid routing
// key, either the client's own or a new one that is set.
func FuzzCookieKey(f *testing.F) {
	f.Add("tether_route=AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("a=b; tether_route=short; tether_route=AAAAAAAAAAAAAAAAAAAAAB")
	f.Add(";;;=;tether_route")
	rt, err := affinity.New(context.Background(), affinity.WithPeers("10.0.0.1:80"), affinity.WithSelf("10.0.0.1:80"))
	if err != nil {
		f.Fatal(err)
	}
	defer rt.Close()
	f.Fuzz(func(t *testing.T, cookie string) {
		r := &http.Request{Header: http.Header{"Cookie": {cookie}}}
		w := httptest.NewRecorder()
		key, ok := rt.KeyOf(w, r)
		if !ok || !affinity.ValidRouteKey(key) {
			t.Fatalf("key %q %v", key, ok)
		}
		set := w.Header().Get("Set-Cookie") != ""
		if !set && !strings.Contains(cookie, "tether_route="+key) {
			t.Fatalf("cookie %q: key %q, Set-Cookie %v", cookie, key, set)
		}
	})
}
