package session

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
)

// WithTokenHeader lets API and mobile clients carry the session token in a
// request header instead of a cookie: a request that carries the header
// (empty on a client's first request) gets its session from it, and its
// response carries the session's token back in the same header whenever it
// changes — a new session, a rotation, a forward — or the header with an empty
// value when the session ended. Rotation, expiry, the user index and signing
// with [WithKeys] work as they do for cookies. A request without the header
// uses the cookie as before, and a browser never gets the token in a header,
// where scripts could read it.
//
// The name must be a custom header (say "X-Session-Token"); Cookie,
// Set-Cookie and Authorization are refused: a response cannot carry a new
// token back in Authorization, and rotation needs it to.
//
// Default: none (cookies only).
func WithTokenHeader(name string) Option {
	return func(c *config) error {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case name == "" || !validCookieName(name):
			return fmt.Errorf("session: WithTokenHeader: invalid header name %q", name)
		case canon == "Cookie" || canon == "Set-Cookie" || canon == "Authorization":
			return fmt.Errorf("session: WithTokenHeader: %s cannot carry the token back; use a custom header such as X-Session-Token", canon)
		}
		c.tokenHeader = canon
		return nil
	}
}

// headerToken reads the token header: whether the request carries it, and
// the token it holds ("" for none or an invalid one, which invalid reports).
func (m *Manager) headerToken(r *http.Request) (tok string, present, invalid bool) {
	vals, ok := r.Header[m.cfg.tokenHeader]
	if !ok || m.cfg.tokenHeader == "" {
		return "", false, false
	}
	if len(vals) == 0 {
		return "", true, false
	}
	v := strings.TrimSpace(vals[0])
	if v == "" {
		return "", true, false
	}
	tok = m.cookie.decode(v)
	return tok, true, tok == ""
}

// writeTokenHeader tells a header client about its token, as writeHeaders
// does with the cookie.
func (s *Session) writeTokenHeader(h http.Header) error {
	name := s.m.cfg.tokenHeader
	switch {
	case s.newCookie && s.token != "":
		v, err := s.m.cookie.encode(s.token)
		if err != nil {
			return err
		}
		h.Set(name, v)
	case s.dropped:
		h[name] = []string{""}
	}
	if s.newCookie || s.dropped {
		h.Set("Cache-Control", "no-store")
	}
	s.newCookie, s.dropped = false, false
	addVary(h, name)
	return nil
}
