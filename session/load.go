package session

import (
	"github.com/tether-go/tether/store"
)

// maxForwardHops bounds how many tombstones a load or commit follows. A chain
// longer than one hop means the session rotated twice within one grace period.
const maxForwardHops = 3

// loadLocked loads the stored record once per request, following rotation
// tombstones. A store failure is kept in s.err, never read as "no session".
func (s *Session) loadLocked() {
	s.read = true
	if s.loaded {
		return
	}
	s.loaded = true
	if s.m == nil || s.token == "" {
		return
	}
	rec, ended, err := s.resolve()
	for err == nil && rec == nil && len(s.candidates) > 0 {
		if ended && (s.dirty() || s.rotate || s.persist != nil) {
			// The request changed the session before loading it (a
			// write-only request loaded at its commit for RememberMe or
			// Rotate, or a read after a write), and this cookie's session
			// ended meanwhile (a logout, DestroyUser, a forward run out):
			// the changes were that session's. They are dropped (logout
			// wins), not moved to the next cookie's session, which may be
			// one a sibling domain tossed in; the cookies are left alone.
			s.superseded = true
			break
		}
		// A dead cookie (say, a parent domain's) came first; try the next.
		// If a login rotated it away and the client sent the login's own
		// cookie too (a planted or stale one came first), that is the
		// session. Any other live cookie is not: the request was made
		// with a session that ended under it, and its changes are dropped
		// (a cookie tossed in by another site must not receive them).
		if s.superseded && s.toSuccessor() {
			s.superseded = false
		} else {
			s.nextCandidate()
		}
		rec, ended, err = s.resolve()
	}
	if err != nil {
		s.err = &StoreError{Op: "load", Err: err}
		return
	}
	s.base = rec
	s.exact, s.exactID = rec, s.id
	if rec == nil {
		// The client's session has ended: expired, destroyed, or rotated
		// away long ago. Changes start a new session; otherwise the dead
		// cookie is cleared.
		if s.presented {
			s.m.event(s.ctx, EventData{Kind: EventExpired, ID: s.id})
		}
		s.token, s.id, s.newCookie = "", "", false
		// A token a login rotated away belongs to a client that now holds
		// the new cookie: clearing it here would log that client out.
		s.dropped = s.presented && !s.superseded
	}
}

// resolve loads the record of s.token, following rotation tombstones, and
// returns it if it is live. ended reports a session that ended under the
// token (a tombstone that forwards nothing to itself: a logout,
// DeleteUser; or a forward this node cannot follow any more), as opposed to
// a token with no live record (expired, never issued) or one a login
// rotated away (s.superseded).
//
// A tombstone is followed only if it forwards and has not ended by this
// node's clock: the store may judge expiry by another clock (its own, or a
// skewed node's), and a forward is a grant of the session to whoever holds
// the old token, so the stricter clock wins.
func (s *Session) resolve() (rec *store.Record, ended bool, err error) {
	rec, err = s.fetch(s.id)
	for hops := 0; err == nil && rec != nil && rec.Moved != nil; hops++ {
		switch {
		case !rec.Live(s.m.cfg.now()):
			return nil, false, nil
		case !rec.Moved.Forwards():
			s.superseded, s.successor = rec.Moved.To != s.id, rec.Moved.To
			return nil, rec.Moved.To == s.id, nil
		case hops == maxForwardHops || s.follow(rec.Moved) != forwarded:
			return nil, true, nil
		}
		rec, err = s.fetch(s.id)
	}
	if err != nil || rec == nil || rec.Moved != nil || !rec.Live(s.m.cfg.now()) {
		return nil, false, err
	}
	return rec, false, nil
}

// forwardResult is what following a tombstone came to.
type forwardResult uint8

const (
	forwarded      forwardResult = iota // the session moved to the new token
	forwardEnded                        // the tombstone forwards nothing: a login or a destroy
	forwardExpired                      // the grace period is over by this node's clock
	forwardBad                          // the tombstone does not open with our token
)

// follow moves the session to the token a tombstone forwards to, if it
// forwards, opens with our token, and its grace period runs by our clock. A
// tombstone that does not open with our token was forged or corrupted in the
// store: the session is treated as ended, and the fact logged.
func (s *Session) follow(mv *store.Moved) forwardResult {
	if !mv.Forwards() {
		return forwardEnded
	}
	tok, until, err := openForward(s.token, mv.Sealed)
	if err != nil || tokenID(tok) != mv.To {
		s.m.log.Warn("session: tombstone does not open; treating session as ended", "id", shortID(s.id))
		return forwardBad
	}
	if !until.IsZero() && !s.m.cfg.now().Before(until) {
		return forwardExpired
	}
	s.m.event(s.ctx, EventData{Kind: EventForwarded, ID: mv.To})
	s.token, s.id, s.newCookie, s.forwarded = tok, mv.To, true, true
	return forwarded
}

// nextCandidate moves the request to the next cookie of our name. A forward
// the last one followed is void: its session ended too, and the response must
// not hand out the next cookie's token as if it were the forward's.
func (s *Session) nextCandidate() {
	s.token, s.id = s.candidates[0], tokenID(s.candidates[0])
	s.candidates = s.candidates[1:]
	if s.forwarded {
		s.forwarded, s.newCookie = false, s.persist != nil
	}
}

// toSuccessor moves the request to the cookie, among the further ones, of the
// session a login rotated the current one to (s.successor), and reports
// whether the client sent one.
func (s *Session) toSuccessor() bool {
	for i, tok := range s.candidates {
		if tokenID(tok) == s.successor {
			s.token, s.id = tok, s.successor
			s.candidates = s.candidates[i+1:]
			return true
		}
	}
	return false
}

func (s *Session) fetch(id string) (*store.Record, error) {
	return s.m.callLoad(s.ctx, id)
}

func (s *Session) baseHas(key string) bool {
	return s.base != nil && s.base.Values.Has(key)
}

// shortID is enough of a session ID to correlate log lines; IDs are hashes,
// never tokens, so even this prefix reveals nothing usable.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
