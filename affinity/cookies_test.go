package affinity_test

import (
	"net/http"
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
