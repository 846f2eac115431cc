package session

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Cookie holds the session cookie's attributes.
type Cookie struct {
	Name     string
	Domain   string
	Path     string
	Secure   bool
	HTTPOnly bool
	SameSite http.SameSite

	// Persist makes the cookie outlive the browser session: it carries an
	// expiry at the session's absolute deadline. Without it the browser drops
	// the cookie when it closes. [Session.RememberMe] overrides it per
	// session.
	Persist bool
}

// DefaultCookie returns the cookie attributes New uses without [WithCookie]:
// name "session", path "/", Secure, HttpOnly, SameSite=Lax, persistent.
//
// Secure cookies are not sent over plain HTTP, except to localhost by current
// browsers and curl; serve over TLS in production.
func DefaultCookie() Cookie {
	return Cookie{
		Name:     DefaultCookieName,
		Path:     "/",
		Secure:   true,
		HTTPOnly: true,
		SameSite: http.SameSiteLaxMode,
		Persist:  true,
	}
}

// validate refuses attributes a browser would reject, or that net/http
// would drop or rewrite when it writes the Set-Cookie header (it logs and
// omits an invalid Domain, strips bad Path bytes): a cookie that is not sent
// as configured fails every request's session, silently, so it fails New.
func (ck Cookie) validate() error {
	switch {
	case ck.Name == "":
		return errors.New("session: empty cookie name")
	case !validCookieName(ck.Name):
		return fmt.Errorf("session: invalid cookie name %q: it must be an RFC 6265 token (no spaces, separators or control characters)", ck.Name)
	case !strings.HasPrefix(ck.Path, "/"):
		return fmt.Errorf("session: cookie path %q must start with \"/\"", ck.Path)
	}
	for i := 0; i < len(ck.Path); i++ {
		if b := ck.Path[i]; b < 0x20 || b >= 0x7f || b == ';' {
			return fmt.Errorf("session: cookie path %q has an invalid byte %#x at %d", ck.Path, b, i)
		}
	}
	if ck.Domain != "" {
		if err := (&http.Cookie{Name: ck.Name, Domain: ck.Domain}).Valid(); err != nil {
			return fmt.Errorf("session: cookie domain %q is invalid: %w", ck.Domain, err)
		}
	}
	switch {
	case ck.SameSite == http.SameSiteNoneMode && !ck.Secure:
		return errors.New("session: SameSite=None cookies must be Secure (browsers reject them otherwise)")
	case hasPrefixFold(ck.Name, "__Host-") && (!ck.Secure || ck.Path != "/" || ck.Domain != ""):
		return fmt.Errorf("session: cookie %q: browsers accept the __Host- prefix only with Secure, Path \"/\" and no Domain", ck.Name)
	case hasPrefixFold(ck.Name, "__Secure-") && !ck.Secure:
		return fmt.Errorf("session: cookie %q: browsers accept the __Secure- prefix only with Secure", ck.Name)
	}
	return nil
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case: browsers match the
// cookie name prefixes case-insensitively.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// maxCookieValue bounds the cookie value we try to decode. A token cookie is
// 43 bytes; a signed and encrypted one a few hundred.
const maxCookieValue = 1024

// cookieCodec turns tokens into cookie values and back.
type cookieCodec struct {
	name   string
	codecs []securecookie.Codec // nil: the value is the bare token
}

func newCookieCodec(name string, keys [][]byte, lifetime time.Duration) cookieCodec {
	cc := cookieCodec{name: name}
	if len(keys) == 0 {
		return cc
	}
	for i := 0; i < len(keys); i += 2 {
		block := keys[i+1]
		if len(block) == 0 {
			block = nil
		}
		sc := securecookie.New(keys[i], block)
		sc.SetSerializer(securecookie.NopEncoder{})
		// A signed cookie older than the lifetime cannot be a live session:
		// reject it without asking the store.
		sc.MaxAge(int(lifetime/time.Second) + 1)
		sc.MaxLength(maxCookieValue)
		cc.codecs = append(cc.codecs, sc)
	}
	return cc
}

func (cc cookieCodec) encode(token string) (string, error) {
	if cc.codecs == nil {
		return token, nil
	}
	return cc.codecs[0].Encode(cc.name, []byte(token))
}

// decode returns the token a cookie value carries, or "" if it carries none
// that could be valid. Bad input is expected, not an error.
func (cc cookieCodec) decode(value string) string {
	if len(value) > maxCookieValue {
		return ""
	}
	if cc.codecs == nil {
		if validToken(value) {
			return value
		}
		return ""
	}
	var b []byte
	if err := securecookie.DecodeMulti(cc.name, value, &b, cc.codecs...); err != nil {
		return ""
	}
	if !validToken(string(b)) {
		return ""
	}
	return string(b)
}

// maxCandidates bounds how many well-formed tokens a request may make us try
// (each costs a load if the previous one was dead).
const maxCandidates = 3

// maxExamined bounds how many cookies of the session cookie's name a request
// may make us decode. With [WithKeys] each costs a signature check per key
// pair: a megabyte of same-name cookies would otherwise cost milliseconds of
// CPU per request, some thousand times what a request without keys costs.
// A browser sends one per matching path and domain: one or two, rarely more.
// Four leaves room for maxCandidates well-formed tokens and a bad cookie.
const maxExamined = 4

// tokensFromRequest returns the well-formed tokens among the request's cookies
// of the session cookie's name, in order, at most maxCandidates of them from
// the first maxExamined such cookies: the first, and the rest. Browsers may
// send several (a parent domain's and ours); a bad or dead one must not hide a
// good one. The first comes apart from the rest so that a request with one
// cookie, nearly every request, allocates no slice for it.
//
// invalid counts the cookies of our name that could not hold a token.
//
// It scans the Cookie headers itself rather than through r.CookiesNamed,
// which allocates every cookie of the request: our decode validates the
// value strictly anyway.
func (cc cookieCodec) tokensFromRequest(r *http.Request) (first string, rest []string, invalid int) {
	examined := 0
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != cc.name {
				continue
			}
			if examined == maxExamined {
				return first, rest, invalid
			}
			examined++
			if len(value) > 1 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			t := cc.decode(value)
			switch {
			case t == "":
				invalid++
			case first == "":
				first = t
			case t != first && !slices.Contains(rest, t):
				if rest = append(rest, t); 1+len(rest) == maxCandidates {
					return first, rest, invalid
				}
			}
		}
	}
	return first, rest, invalid
}

func validCookieName(name string) bool {
	// RFC 6265 token characters.
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
			return false
		}
	}
	return true
}
