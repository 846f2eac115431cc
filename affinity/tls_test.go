package affinity_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tether-go/tether/affinity"
)

// TestForwardFromTLS: a node that terminates TLS itself forwards in plain
// HTTP; the owner must still learn that the client used HTTPS
// (X-Forwarded-Proto: https), or an app that redirects plain-HTTP requests
// to HTTPS sends the client round in a loop, and the session middleware
// warns of a Secure cookie on plain HTTP.
func TestForwardFromTLS(t *testing.T) {
	nodes := newCluster(t, 2)
	nodes[1].start(t)
	ts := httptest.NewUnstartedServer(nodes[0].rt.Wrap(nodes[0].handler()))
	ts.Listener = nodes[0].ln
	ts.StartTLS()
	defer ts.Close()
	client := ts.Client()
	client.Transport.(*http.Transport).DisableKeepAlives = true
	for _, tc := range []struct{ sent, want string }{{"", "https"}, {"https", "https"}} {
		req, _ := http.NewRequest("GET", ts.URL+"/", nil)
		req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: keyOwnedBy(t, nodes, 1)})
		if tc.sent != "" {
			req.Header.Set("X-Forwarded-Proto", tc.sent)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		r := nodes[1].last.Load()
		if res.Header.Get("X-Node") != nodes[1].addr || r == nil {
			t.Fatalf("served by %q, want the owner", res.Header.Get("X-Node"))
		}
		if got := r.Header.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != tc.want {
			t.Fatalf("client sent X-Forwarded-Proto %q over TLS: owner saw %q, want %q", tc.sent, got, tc.want)
		}
	}
}
