package session

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tether-go/tether/store"
)

// Commit saves the request's changes and writes the session cookie and the
// caching headers into h. Call it before the response headers are sent; the
// middleware does. It may be called more than once: each call saves what
// changed since the previous one.
//
// A store failure returns a [*StoreError] and nothing is reported as saved.
// A session that another request destroyed meanwhile is not brought back: its
// changes are dropped and logged, and Commit returns nil.
func (s *Session) Commit(h http.Header) error {
	if h == nil {
		h = http.Header{}
	}
	return s.commit(h)
}

// CommitLate saves changes made after the response headers were sent.
// Changes to an existing session are saved as usual. What would need a new
// cookie cannot reach the client any more: a new session is not created, and a
// due periodic rotation waits for the next request; both are logged. A
// pending [Session.Rotate] (a login) cannot wait: the request's changes would
// land under the old token, which may be an attacker's, so all of them are
// dropped, the old token's session is ended, and the refusal is logged as an
// error.
func (s *Session) CommitLate() error { return s.commit(nil) }

func (s *Session) commit(h http.Header) error {
	if s.m == nil {
		return ErrDetached
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.commitLocked(h)
	s.failed = err != nil
	return err
}

// commitLocked is commit with s.mu held.
//
// A late commit after one that left nothing to do is not skipped: what it
// judges by the clock (a touch, a rotation fallen due) may have come due
// while the handler streamed its response.
func (s *Session) commitLocked(h http.Header) error {
	if !s.used {
		return nil // never used: nothing to save, no cookie to read
	}
	if s.m.closed.Load() {
		return ErrClosed
	}
	late := h == nil
	if !late && (s.rotate || s.persist != nil) {
		s.loadLocked() // rotation copies the values; a cookie needs its deadline
	}
	if s.err != nil {
		return s.err
	}
	if err := s.destroyPending(); err != nil {
		return err
	}
	now := s.m.cfg.now()
	var err error
	switch {
	case s.superseded && !s.rotate:
		// The request's token was rotated away by a login on another
		// request: its changes belong to the pre-login session, which
		// ended, and a new session's cookie would log the login out. A
		// request that only read has nothing to drop.
		if s.dirty() {
			s.endedUnder("session rotated away by a login", true)
		}
	case s.token == "" || (s.loaded && s.base == nil):
		err = s.create(now, late)
	case s.rotate && late:
		err = s.refuseLateLogin()
	case s.rotateDue(now) && late:
		s.m.log.Warn("session: rotation postponed; response headers already sent", "id", shortID(s.id))
		err = s.update(now, late)
	case s.rotateDue(now):
		err = s.rotateLocked(now)
	default:
		err = s.update(now, late)
	}
	if err != nil || late {
		return err
	}
	return s.writeHeaders(h, now)
}

// refuseLateLogin handles a Rotate whose new cookie can no longer reach the
// client (the headers went out, or the connection was hijacked). Rotate marks
// a change of privilege, and what the request set around it (a user id, the
// application's own login state, roles) is that privilege: saved under the
// old token, which an attacker may have planted, it would be session
// fixation. So every pending change of the request is dropped, loudly, and
// the old token's session is ended: what the request saved before the
// headers went out (a user id set before a Flush) is already under it. The
// user logs in again; changes made after this (a handler still running after
// Hijack) find no session and are dropped too.
func (s *Session) refuseLateLogin() error {
	s.m.log.Error("session: login refused: Rotate was called after the response headers were sent, so the new token cannot reach the client; the request's changes are dropped and its session ended. Log in before writing the response",
		"id", shortID(s.id), "keys", s.ndirty)
	s.m.event(s.ctx, EventData{Kind: EventDropped, ID: s.id, Reason: "login after the response headers were sent"})
	s.overlay = nil
	s.userSet, s.userID = false, ""
	s.attrsSet, s.attrs = false, nil
	s.persist, s.rotate = nil, false
	s.clearDirty()
	s.destroy = append(s.destroy, ended{id: s.id, token: s.token})
	if err := s.destroyPending(); err != nil {
		return err
	}
	s.token, s.id, s.newCookie = "", "", false
	s.loaded, s.base = true, nil
	return nil
}

// destroyPending ends the sessions Destroy was called on. Like a write, it
// does not stop when the client goes away: a logout clicked just before the
// tab closed still ends the session, and so does a refused late login.
func (s *Session) destroyPending() error {
	if len(s.destroy) == 0 {
		return nil // the common case: no context to make
	}
	ctx := context.WithoutCancel(s.ctx)
	for len(s.destroy) > 0 {
		if _, err := s.m.kill(ctx, s.destroy[0], 0); err != nil {
			return &StoreError{Op: "destroy", Err: err}
		}
		s.m.event(s.ctx, EventData{Kind: EventDestroyed, ID: s.destroy[0].id})
		s.destroy = s.destroy[1:]
	}
	return nil
}

// create starts a new session under a fresh token if the request put
// anything in it. A fresh token, never the client's old one: a commit never
// re-creates a record that ended.
func (s *Session) create(now time.Time, late bool) error {
	values := make(map[string][]byte, len(s.overlay)+1)
	for k, c := range s.overlay {
		if !c.del {
			values[k] = c.value
		}
	}
	// A new session has a token no one else holds: a pending rotation (a
	// login on a request that had no session) is done by creating it.
	s.rotate = false
	if len(values) == 0 && s.userID == "" && len(s.attrs) == 0 {
		s.clearDirty()
		return nil
	}
	if late {
		s.drop("new session after the response headers were sent", len(values))
		s.clearDirty()
		return nil
	}
	values[keyIssued] = []byte(strconv.FormatInt(now.UnixMilli(), 10))
	c := store.Change{
		Mode:      store.Create,
		Created:   now,
		Set:       values,
		SetUserID: true,
		UserID:    s.userID,
		SetAttrs:  true,
		Attrs:     s.attrs,
		LastSeen:  now,
		Expires:   s.deadline(now, now),
	}
	tok := newToken()
	id := tokenID(tok)
	res, err := s.storeCommit(id, c)
	if errors.Is(err, store.ErrExists) {
		// Nobody else knows id (two 256-bit tokens from crypto/rand do
		// not collide): this is our own Create, resent by the client
		// after its reply was lost. Create makes version 1.
		res, err = store.Result{Version: 1}, nil
	}
	if err != nil {
		// The write may have applied (a lost reply); its token was never
		// handed out, so delete it rather than leave a phantom session
		// indexed under the user.
		s.discard(id)
		return &StoreError{Op: "create", Err: err}
	}
	s.m.event(s.ctx, EventData{Kind: EventCreated, ID: id})
	s.token, s.id, s.newCookie, s.dropped = tok, id, true, false
	s.loaded = true
	s.base = &store.Record{Values: store.ValuesOf(values), UserID: s.userID, Attrs: s.attrs, Created: now, LastSeen: now, Expires: c.Expires, Version: res.Version}
	s.exact, s.exactID = s.base, id
	s.clearDirty()
	return nil
}

// update applies the request's uncommitted changes to the stored record, or
// extends its idle deadline if nothing changed and a touch is due.
func (s *Session) update(now time.Time, late bool) error {
	c := s.pendingChange()
	if c.Empty() {
		return s.touchIfDue(now)
	}
	c.LiveAt = now // a record expired by our clock is no place for the write
	if s.base != nil {
		c.LastSeen, c.Expires = now, s.deadline(s.base.Created, now)
	}
	// hops counts the forwards followed from the current cookie's token,
	// as resolve does; moving on to another cookie (which uses up a
	// candidate) starts again. Each loop either follows a forward (at most
	// maxForwardHops per cookie) or moves on to another cookie (at most
	// maxCandidates), so it ends.
	hops, cookie := 0, len(s.candidates)
	for {
		if cookie != len(s.candidates) {
			hops, cookie = 0, len(s.candidates)
		}
		// The record as loaded lets the store skip reading it (see
		// store.Change.Base), if it is exactly what is stored under the
		// ID the commit goes to: not after a forward (s.id moved on),
		// nor after a commit or touch of this request (s.base is then a
		// copy with the stored times but not the stored values).
		c.Base = nil
		if s.base != nil && s.base == s.exact && s.id == s.exactID && !c.SetUserID {
			c.Base = s.base
		}
		res, err := s.storeCommit(s.id, c)
		if err == nil {
			s.committed(&c, res)
			return nil
		}
		if mv, ok := store.IsMoved(err); ok {
			// Another request rotated the session: our change belongs to
			// the new record, and the client gets the new cookie. A
			// tombstone that forwards nothing (a login, a destroy) ends
			// the session for us.
			if hops == maxForwardHops {
				if !s.loaded && len(s.candidates) > 0 {
					// Too long a chain for this cookie: a read gives
					// up on it and tries the next, and so does a write.
					s.nextCandidate()
					continue
				}
				s.gone("rotated away")
				return nil
			}
			r := s.follow(&mv.Moved)
			if r == forwarded {
				hops++
				continue
			}
			if r == forwardEnded && !s.loaded && mv.Moved.To == s.id && len(s.candidates) > 0 {
				// A logout or DeleteUser ended this cookie's session,
				// before the request came (a stale cookie, a parent
				// domain's, say, came first) or while it ran: a request
				// that only wrote cannot tell which. Its changes are
				// dropped, not moved to the next cookie's session, which
				// may be one a sibling domain tossed in (logout wins);
				// the cookies are left alone, so a live one among them is
				// not logged out.
				s.endedUnder("session ended while the request ran", true)
				return nil
			}
			if r == forwardEnded && !s.loaded && mv.Moved.To != s.id {
				// A login rotated this cookie's session away. If the
				// client sent the login's own cookie too (a planted or
				// stale one came first), the change is that session's.
				s.successor = mv.Moved.To
				if s.toSuccessor() {
					continue
				}
			}
			if r != forwardExpired {
				s.notFollowed(r, &mv.Moved)
				return nil
			}
			// The forward's grace period is over by our clock: for this
			// token the session ended, as if the tombstone had expired.
			err = store.ErrNotFound
		}
		if errors.Is(err, store.ErrNotFound) && !s.loaded && len(s.candidates) > 0 {
			// The first cookie was dead; the change may belong to the next.
			s.nextCandidate()
			continue
		}
		if errors.Is(err, store.ErrNotFound) && !s.loaded && !s.forwarded {
			// A request that only wrote never saw its session alive: its
			// cookie was dead before it came (expired, never issued). Its
			// changes start a new session under a new token, as they would
			// have without the cookie. (A request that did see its session
			// alive lost it to a logout meanwhile: below.)
			return s.restart(now, late)
		}
		if errors.Is(err, store.ErrNotFound) {
			s.gone("session ended while the request ran")
			return nil
		}
		return &StoreError{Op: "commit", Err: err}
	}
}

func (s *Session) touchIfDue(now time.Time) error {
	if s.base == nil || s.touchTried || now.Sub(s.base.LastSeen) < s.m.cfg.touchEvery {
		return nil
	}
	s.touchTried = true // once per request, whatever the outcome
	expires := s.deadline(s.base.Created, now)
	err := s.m.callTouch(s.ctx, s.id, now, expires)
	switch {
	case err == nil:
		b := *s.base
		b.LastSeen, b.Expires = now, expires
		s.base = &b
		return nil
	}
	// Rotated or ended meanwhile (an outcome): whoever did it has the newer
	// state. A fault: the touch saves no data the handler made, only moves
	// the idle deadline, and the next request retries it; failing the
	// request would turn every read served from a cache during an outage
	// (hybridstore's degraded mode) into an error. The fault is logged and
	// observed by callTouch.
	return nil
}

// restart saves a write-only request's changes, whose cookie turned out to be
// dead, in a new session.
func (s *Session) restart(now time.Time, late bool) error {
	s.m.event(s.ctx, EventData{Kind: EventExpired, ID: s.id})
	s.m.logRestart(s.id, s.ndirty)
	s.token, s.id = "", ""
	s.loaded, s.base = true, nil
	s.dropped = s.presented
	return s.create(now, late)
}

// endedUnder drops the request's changes because its session ended under it.
// superseded: a login on another request rotated the token away; that
// request's client holds the new cookie, which this response must not clear.
func (s *Session) endedUnder(reason string, superseded bool) {
	s.gone(reason)
	if superseded {
		s.superseded, s.dropped = true, false
	}
}

// gone drops the request's changes because the session ended under it: logout
// wins over a request that was in flight.
func (s *Session) gone(reason string) {
	s.drop(reason, s.ndirty)
	s.token, s.id, s.newCookie = "", "", false
	s.dropped = s.presented
	s.loaded, s.base = true, nil
	s.overlay = nil
	s.userSet, s.userID, s.persist, s.rotate = false, "", nil, false
	s.attrsSet, s.attrs = false, nil
	s.clearDirty()
}

// drop reports changes that will not be saved although the handler made them.
func (s *Session) drop(reason string, keys int) {
	s.m.logDropped(reason, s.id, keys)
	s.m.event(s.ctx, EventData{Kind: EventDropped, ID: s.id, Reason: reason})
}

func (s *Session) pendingChange() store.Change {
	c := store.Change{Mode: store.Update}
	for k, ch := range s.overlay {
		if !ch.dirty {
			continue
		}
		if ch.del {
			c.Delete = append(c.Delete, k)
			continue
		}
		if c.Set == nil {
			c.Set = make(map[string][]byte, s.ndirty)
		}
		c.Set[k] = ch.value
	}
	if s.userDirty {
		c.SetUserID, c.UserID = true, s.userID
	}
	if s.attrsDirty {
		c.SetAttrs, c.Attrs = true, s.attrs
	}
	return c
}

// committed records a saved change. Reads go to the overlay first, so the
// loaded record plus the overlay already is what the store holds, provided
// no other request wrote in between: then the commit applied to our
// version (res.Before). Otherwise what we loaded is stale, and the next read
// (or a rotation, which copies the values) must load again.
func (s *Session) committed(c *store.Change, res store.Result) {
	version := res.Version
	switch {
	case s.base == nil:
	case res.Before() == s.base.Version:
		b := *s.base
		if c.SetUserID {
			b.UserID = c.UserID
		}
		if c.SetAttrs {
			b.Attrs = c.Attrs
		}
		if !c.Expires.IsZero() {
			b.LastSeen, b.Expires = c.LastSeen, c.Expires
		}
		b.Version = version
		s.base = &b
	default:
		s.base, s.loaded = nil, false
	}
	s.clearDirty()
}

func (s *Session) clearDirty() {
	if s.ndirty > 0 {
		for k, c := range s.overlay {
			if c.dirty {
				c.dirty = false
				s.overlay[k] = c
			}
		}
		s.ndirty = 0
	}
	s.userDirty, s.attrsDirty = false, false
}

// dirty reports whether the request changed values, user id or attributes
// since they were last saved (clearDirty).
func (s *Session) dirty() bool { return s.ndirty > 0 || s.userDirty || s.attrsDirty }

func (s *Session) storeCommit(id string, c store.Change) (store.Result, error) {
	return s.m.callCommit(s.ctx, id, c)
}

// writeHeaders tells the client about its cookie. A response that sets a
// session cookie must not be cached by anyone; one that depends on the session
// must not be served to another client from a shared cache.
func (s *Session) writeHeaders(h http.Header, now time.Time) error {
	if s.viaHeader {
		return s.writeTokenHeader(h)
	}
	var ck *http.Cookie
	if s.newCookie && s.token != "" && s.base == nil {
		// A write was forwarded to a rotated session we never loaded: its
		// cookie's persistence and deadline are in the record.
		if rec, err := s.fetch(s.id); err == nil && rec != nil && rec.Moved == nil {
			s.base = rec
		}
	}
	switch {
	case s.newCookie && s.token != "":
		v, err := s.m.cookie.encode(s.token)
		if err != nil {
			return err
		}
		ck = s.m.baseCookie(v)
		if s.persistent() {
			_, lifetime := s.limits()
			exp := now.Add(lifetime)
			if s.base != nil {
				exp = s.base.Created.Add(lifetime)
			}
			ck.Expires = exp.UTC().Truncate(time.Second)
			ck.MaxAge = max(int(exp.Sub(now)/time.Second), 1)
		}
	case s.dropped:
		ck = s.m.baseCookie("")
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
	}
	s.newCookie, s.dropped = false, false
	if ck != nil {
		replaceCookie(h, ck)
		h.Set("Cache-Control", "no-store")
	}
	if ck != nil || s.read {
		addVary(h, "Cookie")
	}
	return nil
}

func (s *Session) persistent() bool {
	if s.persist != nil {
		return *s.persist
	}
	if s.base == nil {
		// Unknown (the record could not be read): a browser-session cookie
		// never outlives what the user chose.
		return false
	}
	if v, ok := s.base.Values.Lookup(keyPersist); ok {
		return string(v) == "1"
	}
	return s.m.cfg.cookie.Persist
}

func (m *Manager) baseCookie(value string) *http.Cookie {
	c := m.cfg.cookie
	return &http.Cookie{
		Name:     c.Name,
		Value:    value,
		Path:     c.Path,
		Domain:   c.Domain,
		Secure:   c.Secure,
		HttpOnly: c.HTTPOnly,
		SameSite: c.SameSite,
	}
}

// replaceCookie sets ck in h, replacing a session cookie set earlier in the
// same response (a second Commit).
func replaceCookie(h http.Header, ck *http.Cookie) {
	prefix := ck.Name + "="
	kept := h.Values("Set-Cookie")[:0:0]
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, prefix) {
			kept = append(kept, v)
		}
	}
	h["Set-Cookie"] = append(kept, ck.String())
}

// addVary adds field to the response's Vary header unless it is listed
// there already. It indexes the map by the canonical key, as Header.Values
// and Header.Add would after canonicalizing it: this runs on every response
// that read its session.
func addVary(h http.Header, field string) {
	for _, v := range h["Vary"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); strings.EqualFold(f, field) || f == "*" {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], field)
}
