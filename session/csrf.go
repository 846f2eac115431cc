package session

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
)

// Cross-site request forgery: the first defence is SameSite=Lax cookies (the
// default) with Go's http.CrossOriginProtection in front of the handlers,
// which refuses cross-origin unsafe requests by their Sec-Fetch-Site and
// Origin headers. Applications that also want a token in every form (older
// browsers, defence in depth) use the synchronizer token below.
//
// The token's secret is 32 random bytes kept in the session. Each call to
// CSRFToken returns it masked with a fresh one-time pad, so the token in a
// compressed response differs every time and BREACH-style length oracles learn
// nothing. A login (Rotate) drops the secret, so a token fetched before the
// login does not validate after it; Destroy drops it with the session.

const (
	keyCSRF         = reservedPrefix + "csrf"
	csrfSecretBytes = 32
	csrfTokenLen    = 86 // base64.RawURLEncoding.EncodedLen(2 * csrfSecretBytes)
)

// CSRFToken returns a token to put in a form or header, bound to this
// session. It starts a session if there is none. Every call returns a
// different string; each of them validates until the session ends or
// rotates explicitly. Called after [Session.Rotate], in the login's own
// request, it returns a token of the secret the session keeps after the
// login (the tokens of the old secret stop validating).
func (s *Session) CSRFToken() string {
	s.lock()
	defer s.mu.Unlock()
	secret := s.csrfSecretLocked()
	if _, renewed := s.overlay[keyCSRF]; s.rotate && !renewed {
		// A login is pending: it drops the secret it finds (see
		// rotatedValues), so the login's own response (the page it
		// renders with its forms) needs a token of a new one.
		secret = nil
	}
	if len(secret) != csrfSecretBytes {
		secret = make([]byte, csrfSecretBytes)
		rand.Read(secret)
		s.put(keyCSRF, change{value: []byte(`"` + base64.RawURLEncoding.EncodeToString(secret) + `"`)})
	}
	masked := make([]byte, 2*csrfSecretBytes)
	pad, body := masked[:csrfSecretBytes], masked[csrfSecretBytes:]
	rand.Read(pad)
	subtle.XORBytes(body, pad, secret)
	return base64.RawURLEncoding.EncodeToString(masked)
}

// VerifyCSRF reports whether token is one [Session.CSRFToken] returned for
// this session. Anything else (empty, malformed, another session's, from
// before a login) is false, in constant time with respect to the secret.
func (s *Session) VerifyCSRF(token string) bool {
	if len(token) != csrfTokenLen {
		return false
	}
	masked, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(masked) != 2*csrfSecretBytes {
		return false
	}
	s.lock()
	defer s.mu.Unlock()
	secret := s.csrfSecretLocked()
	if len(secret) != csrfSecretBytes {
		return false
	}
	got := make([]byte, csrfSecretBytes)
	subtle.XORBytes(got, masked[:csrfSecretBytes], masked[csrfSecretBytes:])
	return subtle.ConstantTimeCompare(got, secret) == 1
}

// csrfSecretLocked returns the session's secret, or nil if it has none.
func (s *Session) csrfSecretLocked() []byte {
	var raw []byte
	var ok bool
	if c, set := s.overlay[keyCSRF]; set {
		raw, ok = c.value, !c.del
	} else {
		s.loadLocked()
		if s.base != nil {
			raw, ok = s.base.Values.Lookup(keyCSRF)
		}
	}
	if !ok || len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil
	}
	secret, err := base64.RawURLEncoding.DecodeString(string(raw[1 : len(raw)-1]))
	if err != nil {
		return nil
	}
	return secret
}
