package affinity_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
		if tc.sent != "" {
			req.Header.Set("X-Forwarded-Proto", tc.sent)
		}
		r := servedByOwner(t, client.Transport, req, nodes, 1)
		if got := r.Header.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != tc.want {
			t.Fatalf("client sent X-Forwarded-Proto %q over TLS: owner saw %q, want %q", tc.sent, got, tc.want)
		}
	}
}
