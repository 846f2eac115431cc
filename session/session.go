package session

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tether-go/tether/store"
)

// Session is one request's view of a session: the values it read, the changes
// it made, and what to tell the client. It is safe for concurrent use by the
// goroutines of one request.
//
// Nothing touches the store until the session is read: a request that never
// uses its session, or only sets values, does not load it.
type Session struct {
	m   *Manager
	ctx context.Context

	mu   sync.Mutex
	req  *http.Request // read for the cookie on first use, then dropped
	used bool          // a method was called: the session may have changes

	token string // the client's token; "" if none or the session ended
	id    string // tokenID(token)

	presented  bool     // the request carried a well-formed cookie
	candidates []string // further well-formed tokens from other cookies of our name
	newCookie  bool     // the response must carry the cookie for token
	dropped    bool     // the response must expire the client's cookie

	loaded bool          // base is known (or there is no token to load)
	base   *store.Record // the stored record as loaded; nil if none
	// exact is base when base is exactly the record stored under exactID
	// at base.Version: loaded, created or rotated to in this request, with
	// no commit or touch since (committed and touchIfDue replace base by a
	// copy that is not). A commit passes it to the store as the Change's
	// Base only while s.base == s.exact and s.id == s.exactID, so a
	// forward followed (s.id changes, s.base does not) or any other
	// reassignment of s.base turns the fast path off by itself.
	exact   *store.Record
	exactID string
	err     error // a load or encode failure; the commit fails with it

	// The request's changes: overlay is what it set (value) or deleted (del)
	// since it began, each marked dirty until committed; ndirty counts those.
	overlay    map[string]change
	ndirty     int
	userSet    bool
	userID     string
	userDirty  bool
	attrsSet   bool              // SetAttrs was called: attrs replace the stored ones
	attrs      map[string]string // owned by the session, never changed in place
	attrsDirty bool
	persist    *bool
	rotate     bool
	destroy    []ended // sessions to end at the next commit
	read       bool    // the response depends on the session: Vary: Cookie
	flashSeq   uint32
	touchTried bool   // a touch was attempted in this request
	forwarded  bool   // the session followed a rotation's forward: it was live moments ago
	superseded bool   // a login on another request rotated the token away: leave the cookie alone
	successor  string // the ID that login rotated the session to
	viaHeader  bool   // the request carried the token header: answer in it, not in a cookie

	// carrier is the context NewContext returns the first time it is
	// called for this session: allocated with it, it saves every request
	// the allocation of a separate context value.
	carrier     carrier
	carrierUsed atomic.Bool

	// bctx is ctx for a session Begin made: the request's context with the
	// request's store budget, allocated with the session.
	bctx budgetCtx

	ended      bool // End was called: changes are dropped
	lateLogged bool // a change after End was reported
	failed     bool // the last commit failed: its error reported what it did not save
}

type change struct {
	value []byte
	del   bool
	dirty bool
}

// Reserved keys hold the session's own metadata in the record's values, so
// every backend keeps it without knowing of it.
const (
	reservedPrefix = "__tether."
	keyIssued      = reservedPrefix + "issued"  // when the current token was issued, unix ms
	keyPersist     = reservedPrefix + "persist" // "1" or "0", from RememberMe
	keyFlashPrefix = reservedPrefix + "flash."
)

func (s *Session) codec() Codec {
	if s.m == nil {
		return JSONCodec{}
	}
	return s.m.cfg.codec
}

// Set stores v under key. v is encoded now, so later changes to v do not
// leak into the session. An encoding failure or an invalid key is recorded
// and fails the request's commit (see [KeyError], [EncodeError]); the key
// and the reason are in the error.
func (s *Session) Set(key string, v any) {
	if err := checkKey(key); err != nil {
		s.fail(err)
		return
	}
	b, err := s.codec().Marshal(v)
	if err != nil {
		s.fail(&EncodeError{Key: key, Err: err})
		return
	}
	s.lock()
	defer s.mu.Unlock()
	s.put(key, change{value: b})
}

// Delete removes key.
func (s *Session) Delete(key string) {
	if err := checkKey(key); err != nil {
		s.fail(err)
		return
	}
	s.lock()
	defer s.mu.Unlock()
	s.put(key, change{del: true})
}

// Clear removes every value set with [Session.Set]. It loads the session to
// learn its keys; a value another request adds meanwhile survives. Pending
// flash messages and the RememberMe choice are kept.
func (s *Session) Clear() {
	s.lock()
	defer s.mu.Unlock()
	for _, k := range s.keysLocked() {
		s.put(k, change{del: true})
	}
}

// Keys returns the session's keys, sorted.
func (s *Session) Keys() []string {
	s.lock()
	defer s.mu.Unlock()
	return s.keysLocked()
}

// Get returns the value stored under key, decoded into a T, and whether there
// was one. A value that does not decode into T reads as missing, and the
// Manager logs it. A store failure reads as missing too, and fails the
// request's commit: check [Session.Err] to tell the two apart early.
func Get[T any](s *Session, key string) (T, bool) {
	b, ok := s.lookup(key)
	if !ok {
		var zero T
		return zero, false
	}
	if _, isJSON := s.codec().(JSONCodec); isJSON {
		// Decoded here, v stays on the stack: through the Codec
		// interface it would be a heap allocation per Get.
		var v T
		if unmarshalScalar(b, &v) {
			return v, true
		}
	}
	return decode[T](s, key, b)
}

// decode is Get's path through the Manager's Codec.
func decode[T any](s *Session, key string, b []byte) (T, bool) {
	var v T
	if err := s.codec().Unmarshal(b, &v); err != nil {
		if s.m != nil {
			s.m.log.Warn("session: stored value does not decode", "key", key, "err", err)
		}
		var zero T
		return zero, false
	}
	return v, true
}

// Has reports whether key holds a value.
func (s *Session) Has(key string) bool {
	_, ok := s.lookup(key)
	return ok
}

// SetUserID indexes the session under userID, so [Manager.UserSessions] and
// [Manager.DestroyUser] find it; "" removes it from the index. Call
// [Session.Rotate] with it on login.
//
// A user id must be valid UTF-8 without control characters and at most
// [MaxUserIDLen] bytes, on every backend. Any other id is refused with a
// [*UserIDError] (matching [ErrInvalidUserID]) that [Session.Err] reports
// and the request's commit fails with, before anything is written; the
// session keeps its previous user id. To answer bad user input with your own
// response, check it first with [CheckUserID].
func (s *Session) SetUserID(userID string) {
	if err := checkUserID(userID); err != nil {
		s.fail(err)
		return
	}
	s.lock()
	defer s.mu.Unlock()
	if s.ended {
		s.changedAfterEnd()
		return
	}
	s.userSet, s.userID, s.userDirty = true, userID, true
}

// UserID returns the user the session is indexed under, or "".
func (s *Session) UserID() string {
	s.lock()
	defer s.mu.Unlock()
	if s.userSet {
		return s.userID
	}
	s.loadLocked()
	if s.base == nil {
		return ""
	}
	return s.base.UserID
}

// Rotate gives the session a new token at commit, keeping its data: call it
// on login and on any change of privilege, against session fixation. The old
// token dies at once. It does not forward to the new one, even within the
// rotate grace period: whoever planted or stole the old token must not be
// handed the privileged one. (Periodic rotation, [WithRotateEvery], changes no
// privilege and does forward.) Requests still in flight with the old token
// find no session; their changes are dropped and logged.
//
// Call it before the response headers are sent: after that the new token
// cannot reach the client, so the login is refused: the request's changes
// are dropped and the old token's session is ended, rather than leave a
// possibly planted token holding the login (see [Session.CommitLate]).
func (s *Session) Rotate() {
	s.lock()
	defer s.mu.Unlock()
	if s.ended {
		s.changedAfterEnd()
		return
	}
	s.rotate = true
}

// Destroy ends the session at commit and expires the client's cookie.
// Requests of the session still in flight cannot bring it back, nor start a
// new session with their changes. Values set after Destroy, in the same
// request, start a new session with a new token.
func (s *Session) Destroy() {
	s.lock()
	defer s.mu.Unlock()
	if s.ended {
		s.changedAfterEnd()
		return
	}
	if !s.loaded && len(s.candidates) > 0 {
		// Several cookies of our name came: end the session the request
		// is in (see loadLocked), not whichever cookie came first.
		s.loadLocked()
	}
	if s.id != "" {
		s.destroy = append(s.destroy, ended{id: s.id, token: s.token})
	}
	s.dropped = s.dropped || s.presented || s.newCookie
	s.token, s.id, s.newCookie = "", "", false
	s.loaded, s.base = true, nil
	s.overlay, s.ndirty = nil, 0
	s.userSet, s.userID, s.userDirty = false, "", false
	s.attrsSet, s.attrs, s.attrsDirty = false, nil, false
	s.persist, s.rotate = nil, false
}

// RememberMe makes the cookie persistent (true: it survives a browser
// restart, until the session's absolute deadline) or a browser-session cookie
// (false), for this session, overriding [Cookie.Persist].
func (s *Session) RememberMe(remember bool) {
	s.lock()
	defer s.mu.Unlock()
	s.persist = &remember
	s.newCookie = true // the cookie must be re-sent with or without an expiry
	v := []byte("0")
	if remember {
		v = []byte("1")
	}
	s.put(keyPersist, change{value: v})
}

// ID returns the session's ID as [Manager.UserSessions] reports it, or "" for
// a session not yet saved. It is a hash of the token, not the token.
func (s *Session) ID() string {
	s.lock()
	defer s.mu.Unlock()
	s.loadLocked()
	if s.base == nil {
		return ""
	}
	return s.id
}

// Err returns the error that will fail the request's commit, if any: a store
// failure while loading, an invalid key or user id, a value that did not
// encode, or [ErrDetached] for a session [From] found outside the middleware.
func (s *Session) Err() error {
	s.lock()
	defer s.mu.Unlock()
	return s.err
}

// lock locks the session and, on first use, reads the request's cookie. An
// untouched session never parses cookies or hashes a token.
func (s *Session) lock() {
	s.mu.Lock()
	s.used = true
	if s.req == nil {
		return
	}
	if s.m != nil && s.m.cfg.tokenHeader != "" {
		tok, present, invalid := s.m.headerToken(s.req)
		s.viaHeader = present
		if tok != "" {
			s.token, s.id, s.presented = tok, tokenID(tok), true
		} else if invalid {
			s.m.event(s.ctx, EventData{Kind: EventInvalidCookie})
		}
	}
	if s.m != nil && !s.viaHeader {
		tok, rest, invalid := s.m.cookie.tokensFromRequest(s.req)
		if tok != "" {
			s.token, s.id = tok, tokenID(tok)
			s.candidates = rest
			s.presented = true
		} else if invalid > 0 {
			s.m.event(s.ctx, EventData{Kind: EventInvalidCookie})
		}
	}
	s.req = nil
}

func (s *Session) fail(err error) {
	s.lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *Session) put(key string, c change) {
	if s.ended {
		s.changedAfterEnd()
		return
	}
	if s.overlay == nil {
		s.overlay = make(map[string]change, 4)
	}
	if !s.overlay[key].dirty {
		s.ndirty++
	}
	c.dirty = true
	s.overlay[key] = c
}

// lookup returns the encoded value under key, loading the session if the
// request has not set or deleted that key itself.
func (s *Session) lookup(key string) ([]byte, bool) {
	s.lock()
	defer s.mu.Unlock()
	if c, ok := s.overlay[key]; ok {
		return c.value, !c.del
	}
	s.loadLocked()
	if s.base == nil {
		return nil, false
	}
	return s.base.Values.Lookup(key)
}

func (s *Session) keysLocked() []string {
	s.loadLocked()
	var keys []string
	if s.base != nil {
		for k := range s.base.Values.Keys() {
			if c, ok := s.overlay[k]; (!ok || !c.del) && !strings.HasPrefix(k, reservedPrefix) {
				keys = append(keys, k)
			}
		}
	}
	for k, c := range s.overlay {
		if !s.baseHas(k) && !c.del && !strings.HasPrefix(k, reservedPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// checkKey returns why key cannot name a value, or nil.
func checkKey(key string) error {
	reason := ""
	switch {
	case key == "":
		reason = "empty"
	case len(key) > store.MaxKeyLen:
		reason = "longer than " + strconv.Itoa(store.MaxKeyLen) + " bytes"
	case !utf8.ValidString(key):
		reason = "not valid UTF-8"
	case strings.ContainsRune(key, 0):
		reason = "contains NUL"
	case strings.HasPrefix(key, reservedPrefix):
		reason = "the prefix " + strconv.Quote(reservedPrefix) + " is reserved for the session's own data"
	default:
		return nil
	}
	return &KeyError{Key: key, Reason: reason}
}
