package affinity_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tether-go/tether/affinity"
)

// TestClientBodyFaultIsNotPeerDown: a request body that cannot be read (a
// malformed chunked encoding, or more than a MaxBytesHandler in front of
// the Router allows) is the client's fault, found while the body streams
// to the owner. The owner must not be marked down for it: otherwise any
// client that picks its routing key takes the replica of its choice out
// of rotation, and with local sessions holds its users on 503 and then
// logs them out. The client is told its request was bad.
func TestClientBodyFaultIsNotPeerDown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wrap   func(http.Handler) http.Handler
		raw    func(key string) string
		status int
	}{
		{
			name: "malformed chunks",
			wrap: func(h http.Handler) http.Handler { return h },
			raw: func(key string) string {
				return "POST / HTTP/1.1\r\nHost: shop.example\r\nCookie: " + affinity.DefaultCookieName + "=" + key +
					"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n"
			},
			status: http.StatusBadRequest,
		},
		{
			name: "body too large",
			wrap: func(h http.Handler) http.Handler { return http.MaxBytesHandler(h, 16) },
			raw: func(key string) string {
				body := strings.Repeat("x", 64)
				return fmt.Sprintf("POST / HTTP/1.1\r\nHost: shop.example\r\nCookie: %s=%s\r\nContent-Length: %d\r\n\r\n%s",
					affinity.DefaultCookieName, key, len(body), body)
			},
			status: http.StatusRequestEntityTooLarge,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			nodes := newCluster(t, 2, affinity.WithObserver(rec))
			for _, nd := range nodes {
				h := nd.handler()
				nd.srv = &http.Server{Handler: tc.wrap(nd.rt.Wrap(h))}
				srv, ln := nd.srv, nd.ln
				go srv.Serve(ln)
				t.Cleanup(func() { srv.Close() })
			}
			key := keyOwnedBy(t, nodes, 1)
			c, err := net.Dial("tcp", nodes[0].addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.raw(key)); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if ev := rec.peerEvents(); len(ev) != 0 {
				t.Fatalf("peer events %+v after a client's bad body", ev)
			}
			if got := get(t, nodes[0].addr, key).Header.Get("X-Node"); got != nodes[1].addr {
				t.Fatalf("next request served by %s, want the owner %s", got, nodes[1].addr)
			}
		})
	}
}
