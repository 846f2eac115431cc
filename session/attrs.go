package session

import (
	"fmt"
	"maps"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on a session's attributes ([Session.SetAttrs]). Every record and
// every "your devices" listing carries them, so they are a handful of short
// strings, the same on every backend.
const (
	// MaxAttrs is how many attributes a session can have.
	MaxAttrs = 8
	// MaxAttrKeyLen is the longest attribute name, in bytes.
	MaxAttrKeyLen = 32
	// MaxAttrValueLen is the longest attribute value, in bytes; longer
	// values are cut (see SetAttrs).
	MaxAttrValueLen = 256
)

// SetAttrs replaces the session's attributes at commit: a few short strings
// that describe it — a device label the user typed, the user agent, the
// address it logged in from — that [Manager.UserSessions] returns for a
// "your devices" page without loading any session's values. nil or an empty
// map removes them. Rotation carries them over, as it does values.
//
// Names are the application's own constants: at most [MaxAttrs] of them,
// each 1 to [MaxAttrKeyLen] bytes of ASCII letters, digits, '_', '-' and
// '.'. Any other set is refused with an [*AttrError] (matching
// [ErrInvalidAttr]) that [Session.Err] reports and the request's commit
// fails with, before anything is written, as for [Session.SetUserID].
//
// Values often come from the client (a User-Agent header), so they are
// never refused: each is made valid UTF-8, control characters become
// spaces, and it is cut to [MaxAttrValueLen] bytes on a character boundary.
// A hostile header cannot fail a login.
func (s *Session) SetAttrs(attrs map[string]string) {
	clean, err := cleanAttrs(attrs)
	if err != nil {
		s.fail(err)
		return
	}
	s.lock()
	defer s.mu.Unlock()
	if s.ended {
		s.changedAfterEnd()
		return
	}
	s.attrsSet, s.attrs, s.attrsDirty = true, clean, true
}

// Attrs returns a copy of the session's attributes (as set by this request,
// or as stored), or nil if it has none. It loads the session if the request
// has not.
func (s *Session) Attrs() map[string]string {
	s.lock()
	defer s.mu.Unlock()
	return maps.Clone(s.attrsLocked())
}

// attrsLocked returns the session's current attributes, not copied.
func (s *Session) attrsLocked() map[string]string {
	if s.attrsSet {
		return s.attrs
	}
	s.loadLocked()
	if s.base == nil {
		return nil
	}
	return s.base.Attrs
}

// cleanAttrs checks attrs' names and returns a copy with cleaned values, or
// nil if attrs is empty.
func cleanAttrs(attrs map[string]string) (map[string]string, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	if len(attrs) > MaxAttrs {
		return nil, &AttrError{Reason: fmt.Sprintf("%d attributes, more than %d", len(attrs), MaxAttrs)}
	}
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if err := checkAttrKey(k); err != nil {
			return nil, err
		}
		out[k] = cleanAttrValue(v)
	}
	return out, nil
}

func checkAttrKey(k string) error {
	switch {
	case k == "":
		return &AttrError{Key: k, Reason: "empty"}
	case len(k) > MaxAttrKeyLen:
		return &AttrError{Key: k, Reason: fmt.Sprintf("longer than %d bytes", MaxAttrKeyLen)}
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return &AttrError{Key: k, Reason: fmt.Sprintf("byte %#02x at %d is not a letter, digit, '_', '-' or '.'", c, i)}
		}
	}
	return nil
}

// cleanAttrValue makes v valid UTF-8 without control characters, at most
// MaxAttrValueLen bytes long, cut on a character boundary.
func cleanAttrValue(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		v = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return ' '
			}
			return r
		}, v)
	}
	if len(v) <= MaxAttrValueLen {
		return v
	}
	cut := MaxAttrValueLen
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut]
}
