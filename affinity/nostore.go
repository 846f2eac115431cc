package affinity

import (
	"bufio"
	"net"
	"net/http"

	"github.com/tether-go/tether/internal/nocache"
)

// noStore carries the response that gives a client a new routing cookie.
// As the headers go out it says Cache-Control: no-store and drops the
// caching directives aimed at CDNs alone (see [nocache.Set]), whatever the
// handler or the owner set: a shared cache that stored the response would
// replay its Set-Cookie to every later client, which would all get the
// same key and land on one replica. Only first responses pay for it; a
// client with a key is served with w itself.
type noStore struct {
	http.ResponseWriter
	sent bool
}

func (w *noStore) headersOut() {
	if !w.sent {
		w.sent = true
		nocache.Set(w.ResponseWriter.Header())
	}
}

func (w *noStore) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.headersOut()
	}
	// An informational answer (103 Early Hints) carries no cookie and
	// leaves the final headers to come.
	w.ResponseWriter.WriteHeader(code)
}

func (w *noStore) Write(b []byte) (int, error) {
	w.headersOut()
	return w.ResponseWriter.Write(b)
}

// Flush and FlushError flush through: the proxy streams responses.
func (w *noStore) Flush() { _ = w.FlushError() }

func (w *noStore) FlushError() error {
	w.headersOut()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack passes an upgrade through (a WebSocket's first request may come
// without a routing cookie).
func (w *noStore) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *noStore) Unwrap() http.ResponseWriter { return w.ResponseWriter }
