package session

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tether-go/tether/store"
)

// maxRotateAttempts bounds how often a rotation re-reads a record that
// concurrent commits keep changing.
const maxRotateAttempts = 4

// endedHold is the least time a tombstone that forwards nothing is kept. It
// hands no one a token, so keeping it costs nothing in security; it lets a
// resent Move (its reply was lost) recognise its own effect, and lets requests
// still in flight with the old token see that the session moved on rather
// than that it vanished.
const endedHold = time.Minute

// rotateDue reports whether this commit should rotate: on demand, or
// periodically once the token is older than WithRotateEvery. Only a loaded
// session knows its token's age; an untouched one waits for a request that
// reads it.
func (s *Session) rotateDue(now time.Time) bool {
	if s.rotate {
		return true
	}
	if s.m.cfg.rotateEvery == 0 || s.base == nil {
		return false
	}
	return now.Sub(s.issued()) >= s.m.cfg.rotateEvery
}

func (s *Session) issued() time.Time {
	if v, ok := s.base.Values.Lookup(keyIssued); ok {
		if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return time.UnixMilli(ms)
		}
	}
	return s.base.Created
}

// rotateLocked moves the session to a new token:
//
//  1. create the new record with the loaded values plus this request's
//     changes, keeping the creation time (rotation never extends the lifetime);
//  2. turn the old record into a tombstone, on condition that its version is
//     still the one we copied.
//
// A periodic rotation's tombstone forwards the old token to the new one for
// the grace period. An explicit one ([Session.Rotate]: a login, a change of
// privilege) forwards nothing: whoever planted or stole the old token must not
// be handed the privileged one, by any node, whatever its clock says.
//
// If a concurrent commit changed the old record in between, step 2 fails: we
// re-read it, overwrite the new record (no one else knows its ID yet) and try
// again. If another request rotated first, a periodic rotation joins its new
// token; an explicit one follows it and rotates again from there, so that it
// ends on a token only this request's client holds and the other request's
// token dies. If the old record was destroyed, logout wins.
func (s *Session) rotateLocked(now time.Time) error {
	explicit := s.rotate
	old := s.base
	attempts := 0
	for hops := 0; ; hops++ {
		res, err := s.rotateFrom(old, explicit, now, &attempts)
		if err != nil || res.done {
			return err
		}
		// Another request rotated first and res.moved is its tombstone.
		mv := res.moved
		if !explicit {
			// Its token wins; ours was never handed out. Our changes go
			// to its record, unless that token is gone too (a login
			// took it over meanwhile): then the client must not be
			// handed it.
			s.rotate = false
			if !s.followMoved(mv) {
				return nil
			}
			s.base, s.loaded, s.candidates = nil, false, nil
			s.loadLocked()
			if s.err != nil {
				return s.err
			}
			if s.base == nil {
				s.endedUnder("joined a rotation whose session ended", s.superseded)
				return nil
			}
			return s.update(now, false)
		}
		if hops == maxForwardHops {
			// Rotated again each time we followed: fail loudly rather
			// than hand the client a token other requests hold.
			return &StoreError{Op: "rotate", Err: fmt.Errorf("session kept rotating under a login: %w", store.ErrConflict)}
		}
		if !s.followMoved(mv) {
			return nil
		}
		if old, _, err = s.resolve(); err != nil {
			return &StoreError{Op: "rotate", Err: err}
		}
		if old == nil {
			s.endedUnder("session ended during rotation", true)
			return nil
		}
		s.base = old
	}
}

// rotateResult is how one attempt at rotating away from a record ended:
// done (rotated, or the session ended and the request's changes were
// dropped), or the record had moved to moved meanwhile.
type rotateResult struct {
	done  bool
	moved *store.Moved
}

// rotateFrom rotates the session away from its record old, under the current
// token. attempts counts conflicts across the whole rotation.
func (s *Session) rotateFrom(old *store.Record, explicit bool, now time.Time, attempts *int) (rotateResult, error) {
	oldTok, oldID := s.token, s.id
	newTok := newToken()
	newID := tokenID(newTok)
	// The tombstone outlives its use by at least endedHold, so that a Move
	// resent after a lost reply finds it. A forward's own end is sealed in
	// it and judged by whoever opens it. A login's tombstone, which
	// forwards nothing, lasts as long as the old session would have: until
	// then, requests still in flight with the old token learn that a login
	// took it over, and leave the new cookie alone.
	moved := store.Moved{To: newID}
	expires := now.Add(max(s.m.cfg.rotateGrace, endedHold))
	if explicit && old.Expires.After(expires) {
		expires = old.Expires
	}
	if !explicit && s.m.cfg.rotateGrace > 0 {
		moved.Sealed = sealForward(oldTok, newTok, now.Add(s.m.cfg.rotateGrace))
	}
	created := false
	for ; *attempts < maxRotateAttempts; *attempts++ {
		values := s.rotatedValues(old, now)
		userID := old.UserID
		if s.userSet {
			userID = s.userID
		}
		attrs := old.Attrs
		if s.attrsSet {
			attrs = s.attrs
		}
		c := store.Change{
			Mode:      store.Create,
			Created:   old.Created,
			Set:       values,
			SetUserID: true,
			UserID:    userID,
			SetAttrs:  true,
			Attrs:     attrs,
			LastSeen:  now,
			Expires:   s.deadline(old.Created, now),
		}
		if created {
			c.Mode, c.Clear = store.Update, true
		}
		res, err := s.storeCommit(newID, c)
		if errors.Is(err, store.ErrExists) && !created {
			// Nobody else knows newID: this is our own Create, resent
			// by the client after its reply was lost. Create makes
			// version 1.
			res, err = store.Result{Version: 1}, nil
		}
		if _, moved := store.IsMoved(err); created && (moved || errors.Is(err, store.ErrNotFound)) {
			// The record this rotation created was ended between its
			// attempts: by a DestroyUser or DestroySession, which find it
			// in the user's index, or by eviction or its expiry. What the
			// old record is now decides, as after a conflict: gone or
			// moved, the session ended or moved under this request; still
			// live, the rotation failed, and says so.
			if _, oerr := s.oldState(oldID); oerr != nil {
				return s.rotateFailed(newID, oerr)
			}
			s.discard(newID)
			return rotateResult{}, &StoreError{Op: "rotate", Err: fmt.Errorf("the new record ended before the rotation was done: %w", err)}
		}
		if err != nil {
			// Whether or not the write applied (a lost reply), the new
			// record was never handed out: delete it, so that no phantom
			// device is left indexed under the user.
			s.discard(newID)
			return rotateResult{}, &StoreError{Op: "rotate", Err: err}
		}
		created = true

		// The Move is conditional on the version we copied, so that no
		// write that lands on the old record meanwhile is lost. A login's
		// last attempt ends the old record whatever its version: whoever
		// keeps writing through the pre-login token (a planted one) must
		// not be able to fend the login off, and writes through a token
		// a login takes over are dropped by design.
		ifVersion := old.Version
		if explicit && *attempts == maxRotateAttempts-1 {
			ifVersion = 0
		}
		err = s.storeMove(oldID, moved, expires, ifVersion)
		if mv, ok := store.IsMoved(err); ok && mv.Moved.To == newID {
			err = nil // our own Move, resent after its reply was lost
		}
		if err != nil && !isStoreOutcome(err) {
			// Did the Move apply? Until we know, the new record may be
			// the only copy of the session: never delete it blindly.
			applied, ferr := s.moveApplied(oldID, newID)
			if !applied {
				return rotateResult{}, &StoreError{Op: "rotate", Err: errors.Join(err, ferr)}
			}
			err = nil
		}
		if err == nil {
			s.m.event(s.ctx, EventData{Kind: EventRotated, ID: newID, Periodic: !explicit})
			s.token, s.id, s.newCookie = newTok, newID, true
			s.base = &store.Record{Values: store.ValuesOf(values), UserID: userID, Attrs: attrs, Created: old.Created, LastSeen: now, Expires: c.Expires, Version: res.Version}
			s.exact, s.exactID = s.base, newID
			s.rotate = false
			s.clearDirty()
			return rotateResult{done: true}, nil
		}
		if errors.Is(err, store.ErrConflict) {
			cur, oerr := s.oldState(oldID)
			if oerr == nil {
				old = cur
				continue
			}
			err = oerr
		}
		return s.rotateFailed(newID, err)
	}
	s.discard(newID)
	return rotateResult{}, &StoreError{Op: "rotate", Err: store.ErrConflict}
}

// oldState reads the record a rotation is moving away from, after an attempt
// failed: it returns the record if it is still live and unmoved, and
// otherwise store.ErrNotFound (gone), a *store.MovedError (another request
// moved it) or the read's error.
func (s *Session) oldState(oldID string) (*store.Record, error) {
	old, err := s.fetch(oldID)
	switch {
	case err != nil:
		return nil, err
	case old == nil || !old.Live(s.m.cfg.now()):
		return nil, store.ErrNotFound
	case old.Moved != nil:
		return nil, &store.MovedError{Moved: *old.Moved}
	}
	return old, nil
}

// rotateFailed ends a rotation attempt that failed with err, about the old
// record: its new record is deleted; a move of the old record is followed, its
// end ends the session for this request (its changes dropped), and anything
// else fails the rotation.
func (s *Session) rotateFailed(newID string, err error) (rotateResult, error) {
	s.discard(newID)
	if mv, ok := store.IsMoved(err); ok {
		return rotateResult{moved: &mv.Moved}, nil
	}
	if errors.Is(err, store.ErrNotFound) {
		s.endedUnder("session ended during rotation", true)
		return rotateResult{done: true}, nil
	}
	return rotateResult{}, &StoreError{Op: "rotate", Err: err}
}

// moveApplied learns whether a Move from oldID to newID that failed without
// an outcome (a timeout, a dropped connection) applied, by reading the old
// record. If it did, the rotation happened and the request goes on with the
// new token. If it did not, the new record is garbage and is deleted. If the
// read fails too, the new record is kept: it may hold the only copy of the
// session, and if the Move did not apply it is unreachable garbage that
// expires with the session.
func (s *Session) moveApplied(oldID, newID string) (bool, error) {
	rec, err := s.fetch(oldID)
	switch {
	case err != nil:
		return false, err
	case rec != nil && rec.Moved != nil && rec.Moved.To == newID:
		return true, nil
	}
	s.discard(newID)
	return false, nil
}

// followMoved moves the session along a tombstone another request left, and
// reports whether it did. Otherwise the session has ended for this request
// and its changes are dropped: a tombstone that forwards nothing (a login
// elsewhere, whose client's cookie this response must leave alone; a
// destroy), one whose grace period is over, one that does not open.
func (s *Session) followMoved(mv *store.Moved) bool {
	r := s.follow(mv)
	if r == forwarded {
		return true
	}
	s.notFollowed(r, mv)
	return false
}

// notFollowed drops the request's changes after a tombstone that did not
// forward it.
func (s *Session) notFollowed(r forwardResult, mv *store.Moved) {
	switch r {
	case forwardEnded:
		s.endedUnder("session rotated away by a login or ended", mv.To != s.id)
	case forwardExpired:
		s.gone("rotated away; the grace period is over")
	default:
		s.gone("tombstone does not open")
	}
}

// rotatedValues is the old record's values with every change this request
// made, stamped with the new token's issue time.
func (s *Session) rotatedValues(old *store.Record, now time.Time) map[string][]byte {
	values := old.Values.Map()
	if values == nil {
		values = make(map[string][]byte, len(s.overlay)+1)
	}
	for k, c := range s.overlay {
		if c.del {
			delete(values, k)
		} else {
			values[k] = c.value
		}
	}
	if _, renewed := s.overlay[keyCSRF]; s.rotate && !renewed {
		// A change of privilege: a CSRF token handed out before it must
		// not validate after it.
		delete(values, keyCSRF)
	}
	values[keyIssued] = []byte(strconv.FormatInt(now.UnixMilli(), 10))
	return values
}

func (s *Session) storeMove(id string, mv store.Moved, expires time.Time, ifVersion uint64) error {
	return s.m.callMove(s.ctx, id, mv, expires, ifVersion)
}

// discard deletes a record created for a rotation that did not happen. Its
// token was never handed out, so a failure only leaves garbage that expires.
func (s *Session) discard(id string) {
	if err := s.m.callDelete(s.ctx, id); err != nil {
		s.m.log.Warn("session: could not delete an abandoned rotation record", "id", shortID(id), "err", err)
	}
}
