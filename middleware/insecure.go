package middleware

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// insecureWarning reports, once per Sessions middleware, a Secure session
// cookie sent in answer to a plain-HTTP request for a host other than
// localhost. Browsers never send such a cookie back, so every request starts
// a new session, silently: typically an app behind a proxy that terminates
// TLS without setting X-Forwarded-Proto, or a compose hostname in
// development.
type insecureWarning struct {
	log  *slog.Logger
	done atomic.Bool
}

func (iw *insecureWarning) check(r *http.Request, setCookie string) {
	if iw.done.Load() || r.TLS != nil || !secureAttr(setCookie) || viaHTTPS(r) || localhost(r.Host) {
		return
	}
	if iw.done.Swap(true) {
		return
	}
	iw.log.LogAttrs(r.Context(), slog.LevelWarn,
		"session: a Secure session cookie was set on a plain-HTTP request; browsers will not send it back, so every request starts a new session. Serve over TLS, have the proxy set X-Forwarded-Proto: https, or (in development only) turn Secure off with WithCookie. Logged once.",
		slog.String("host", r.Host))
}

// secureAttr reports whether a Set-Cookie line has the Secure attribute.
func secureAttr(setCookie string) bool {
	for attr := range strings.SplitSeq(setCookie, ";") {
		if strings.EqualFold(strings.TrimSpace(attr), "Secure") {
			return true
		}
	}
	return false
}

// viaHTTPS reports whether a proxy says the client's request came over
// HTTPS.
func viaHTTPS(r *http.Request) bool {
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		first, _, _ := strings.Cut(p, ",")
		return strings.EqualFold(strings.TrimSpace(first), "https")
	}
	if f := r.Header.Get("Forwarded"); f != "" {
		first, _, _ := strings.Cut(f, ",") // the proxy nearest the client
		for pair := range strings.SplitSeq(first, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
			if strings.EqualFold(k, "proto") {
				return strings.EqualFold(strings.Trim(v, `"`), "https")
			}
		}
	}
	return false
}

// localhost reports whether host is one to which browsers send Secure
// cookies over plain HTTP: localhost, a *.localhost name, a loopback address.
func localhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
