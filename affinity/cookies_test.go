package affinity_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/affinity"
)

// TestSessionCookieBothWays: a forwarded request carries the client's
// session cookie to the owner, and the owner's Set-Cookie (a new session)
// comes back next to the routing cookie given to a new client: neither
// replaces the other.
func TestSessionCookieBothWays(t *testing.T) {
	nodes := newCluster(t, 2)
	for _, nd := range nodes {
		h := nd.handler()
		nd.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, err := r.Cookie("session"); err == nil {
				w.Header().Set("X-Session", c.Value)
			}
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "new-token", HttpOnly: true})
			h.ServeHTTP(w, r)
		})
		nd.start(t)
	}
	key := keyOwnedBy(t, nodes, 1)
	req, _ := http.NewRequest("GET", "http://"+nodes[0].addr+"/", nil)
	req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
	req.AddCookie(&http.Cookie{Name: "session", Value: "old-token"})
	res, err := noKeepAlive.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Node") != nodes[1].addr || res.Header.Get("X-Session") != "old-token" {
		t.Fatalf("owner %q saw session %q", res.Header.Get("X-Node"), res.Header.Get("X-Session"))
	}
	if cs := res.Cookies(); len(cs) != 1 || cs[0].Name != "session" || cs[0].Value != "new-token" {
		t.Fatalf("cookies back: %v", cs)
	}
	// A new client: the routing cookie and the owner's session cookie.
	for range 20 {
		req, _ := http.NewRequest("GET", "http://"+nodes[0].addr+"/", nil)
		res, err := noKeepAlive.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		names := map[string]string{}
		for _, c := range res.Cookies() {
			names[c.Name] = c.Value
		}
		if len(names) != 2 || names["session"] != "new-token" || !affinity.ValidRouteKey(names[affinity.DefaultCookieName]) {
			t.Fatalf("new client, served by %s: cookies %v", res.Header.Get("X-Node"), res.Cookies())
		}
	}
}

// TestRoutingCookieSecureOverHTTPS: a client that came over HTTPS (TLS
// here, or a proxy's X-Forwarded-Proto) gets a Secure routing cookie even
// though Cookie.Secure is off by default: a network attacker can then not
// toss a plain-HTTP cookie over it to move the user to a replica that does
// not have the session (with local sessions: a logout). A plain-HTTP
// client still gets one its browser keeps.
func TestRoutingCookieSecureOverHTTPS(t *testing.T) {
	rt, err := affinity.New(context.Background(), affinity.WithPeers("10.0.0.1:80", "10.0.0.2:80"), affinity.WithSelf("10.0.0.1:80"))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for name, tc := range map[string]struct {
		tls    bool
		proto  string
		secure bool
	}{
		"plain":                  {},
		"TLS":                    {tls: true, secure: true},
		"X-Forwarded-Proto":      {proto: "https", secure: true},
		"X-Forwarded-Proto http": {proto: "http"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		w := httptest.NewRecorder()
		rt.KeyOf(w, r)
		cs := w.Result().Cookies()
		if len(cs) != 1 || cs[0].Secure != tc.secure {
			t.Errorf("%s: cookies %v, want Secure %v", name, cs, tc.secure)
		}
	}
}

// TestRoutingCookieNotCached: a response that gives a new client its
// routing cookie is not stored by a shared cache, whatever the handler
// (here or on the owner) said, in Cache-Control or in the directives a CDN
// obeys over it: a CDN replaying one Set-Cookie would hand every later
// client the same key, and pin them all on one replica. The handler's
// caching stands for clients that already have a key.
func TestRoutingCookieNotCached(t *testing.T) {
	cdn := []string{"CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Surrogate-Control"}
	nodes := newCluster(t, 2)
	for _, nd := range nodes {
		h := nd.handler()
		nd.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=3600")
			for _, k := range cdn {
				w.Header().Set(k, "max-age=3600")
			}
			h.ServeHTTP(w, r)
		})
		nd.start(t)
	}
	seen := map[string]bool{}
	for i := 0; len(seen) < 2 && i < 200; i++ {
		res := get(t, nodes[0].addr, "")
		seen[res.Header.Get("X-Node")] = true
		if len(res.Cookies()) != 1 || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("new client, served by %s: cookies %v, Cache-Control %q", res.Header.Get("X-Node"), res.Cookies(), res.Header.Values("Cache-Control"))
		}
		for _, k := range cdn {
			if v := res.Header.Get(k); v != "" {
				t.Fatalf("new client, served by %s: %s %q on the response that sets its routing cookie", res.Header.Get("X-Node"), k, v)
			}
		}
	}
	if len(seen) < 2 {
		t.Fatal("no new client was forwarded")
	}
	for i := range nodes {
		res := get(t, nodes[0].addr, keyOwnedBy(t, nodes, i))
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=3600" {
			t.Fatalf("client with a key, served by %s: Cache-Control %q", res.Header.Get("X-Node"), got)
		}
		for _, k := range cdn {
			if v := res.Header.Get(k); v != "max-age=3600" {
				t.Fatalf("client with a key, served by %s: %s %q, want the handler's", res.Header.Get("X-Node"), k, v)
			}
		}
	}
}

// TestNewClientStreams: the first response of a new client streams as the
// handler flushes, here and forwarded, and says no-store.
func TestNewClientStreams(t *testing.T) {
	nodes := newCluster(t, 2)
	release := make(chan struct{})
	for _, nd := range nodes {
		nd.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("X-Node", nd.addr)
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-release
		})
		nd.start(t)
	}
	defer close(release)
	seen := map[string]bool{}
	for i := 0; len(seen) < 2 && i < 100; i++ {
		req, _ := http.NewRequest("GET", "http://"+nodes[0].addr+"/events", nil)
		res, err := noKeepAlive.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(res.Body).ReadString('\n')
		res.Body.Close()
		if err != nil || line != "data: first\n" || res.Header.Get("Cache-Control") != "no-store" || len(res.Cookies()) != 1 {
			t.Fatalf("new client via %s: %q %v, Cache-Control %q, cookies %v", res.Header.Get("X-Node"), line, err, res.Header.Get("Cache-Control"), res.Cookies())
		}
		seen[res.Header.Get("X-Node")] = true
	}
	if len(seen) < 2 {
		t.Fatal("not both served here and forwarded")
	}
}
