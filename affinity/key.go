package affinity

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// routeKeyLen is the length of a routing cookie's value: 16 random bytes,
// unpadded base64url.
const routeKeyLen = 22

// maxForwardedHops bounds the X-Forwarded-For entries looked at, whatever
// the header's length.
const maxForwardedHops = 32

// newKeyTries bounds the keys drawn for a new client until one is owned by
// a peer that is not down.
const newKeyTries = 16

// keyOf returns the request's routing key, and false when the request is
// not to be routed (a key function declined it). With the routing cookie,
// a client without a valid one is given a new key, set on w.
//
// fresh reports that a new routing cookie was set: the response must then
// not be stored by a shared cache (see [noStore]).
func (rt *Router) keyOf(w http.ResponseWriter, r *http.Request) (key string, ok, fresh bool) {
	switch rt.cfg.keyKind {
	case keyClientIP:
		key, ok = clientIP(r, rt.cfg.trusted)
		return key, ok, false
	case keyFunc:
		key, ok = rt.cfg.keyFn(r)
		return key, ok, false
	}
	if key, ok := rt.cookieKey(r); ok {
		return key, true, false
	}
	return rt.newKey(w, r), true, true
}

// cookieKey returns the key of the request's routing cookie, if it holds a
// valid one.
func (rt *Router) cookieKey(r *http.Request) (string, bool) {
	name := rt.cfg.cookie.Name
	// r.Cookie parses every cookie of the request; looking only for ours
	// keeps a header full of other cookies cheap.
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
			if ok && k == name && validRouteKey(v) {
				return v, true
			}
		}
	}
	return "", false
}

// newKey draws a key for a client that has none and sets it on w. A new
// client has no session anywhere, so its key is drawn again while its owner
// is down: it starts on a live replica (rather than waiting out a hold for
// a session it does not have) and stays there when the down one returns.
func (rt *Router) newKey(w http.ResponseWriter, r *http.Request) string {
	peers := rt.peers.peers()
	var key string
	for range newKeyTries {
		var b [16]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		key = base64.RawURLEncoding.EncodeToString(b[:])
		if !rt.peers.down(owner(peers, key)) {
			break
		}
	}
	ck := &rt.cfg.cookie
	http.SetCookie(w, &http.Cookie{
		Name:     ck.Name,
		Value:    key,
		Path:     ck.Path,
		Domain:   ck.Domain,
		MaxAge:   int(ck.MaxAge / time.Second),
		Secure:   ck.Secure || overHTTPS(r),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	return key
}

// overHTTPS reports whether the client reached this node, or the proxy in
// front of it, over HTTPS. The routing cookie is then Secure: a network
// attacker cannot overwrite it from plain HTTP to move the user to a
// replica that lacks the session. A client that forges X-Forwarded-Proto
// only gets a cookie its own browser will not keep over HTTP.
func overHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	p := r.Header.Values("X-Forwarded-Proto")
	return len(p) > 0 && strings.EqualFold(strings.TrimSpace(p[len(p)-1]), "https")
}

// validRouteKey reports whether v can be a key this package issued. Anything
// else is replaced, so a hostile cookie cannot make keys of any length.
func validRouteKey(v string) bool {
	if len(v) != routeKeyLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// clientIP returns the key of the request's client address: the
// connection's peer, or behind trusted proxies the rightmost untrusted
// X-Forwarded-For entry. An entry that does not parse ends the walk at the
// trusted proxy that sent it, so garbage cannot choose the key.
func clientIP(r *http.Request, trusted []netip.Prefix) (string, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// Not a TCP peer (a test, a unix socket): no address to route by.
		return "", false
	}
	addr := ap.Addr().Unmap()
	if !isTrusted(addr, trusted) {
		return addrKey(addr), true
	}
	hdr := r.Header["X-Forwarded-For"]
	hops := 0
	for i := len(hdr) - 1; i >= 0; i-- {
		line := hdr[i]
		for line != "" {
			if hops++; hops > maxForwardedHops {
				return addrKey(addr), true
			}
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, ok := parseForwarded(entry)
			if !ok {
				return addrKey(addr), true
			}
			addr = a
			if !isTrusted(addr, trusted) {
				return addrKey(addr), true
			}
		}
	}
	return addrKey(addr), true
}

// parseForwarded parses an X-Forwarded-For entry: an address, or an address
// with a port.
func parseForwarded(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrKey is an IPv4 address itself, an IPv6 address's /64 network.
func addrKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}
