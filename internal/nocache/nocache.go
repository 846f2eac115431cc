// Package nocache makes a response uncacheable everywhere, for the two
// places that hand a client a cookie a shared cache must never replay: the
// session middleware (the session cookie, a header client's token) and the
// affinity router (a new routing cookie).
package nocache

import (
	"net/http"
	"strings"
)

// Set says Cache-Control: no-store and drops every caching directive aimed
// at a CDN alone, which a CDN obeys over Cache-Control: CDN-Cache-Control
// and its vendor variants (RFC 9213; Cloudflare-CDN-Cache-Control, say),
// and Surrogate-Control.
func Set(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Del("Surrogate-Control")
	for k := range h {
		if strings.HasSuffix(k, "Cdn-Cache-Control") {
			delete(h, k)
		}
	}
}
