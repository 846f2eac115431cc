package session

import (
	"errors"
	"maps"
	"strconv"
	"time"

	"github.com/tether-go/tether/store"
)

// maxRotateAttempts bounds how often a rotation re-reads a record that
// concurrent commits keep changing.
const maxRotateAttempts = 4

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
	if v, ok := s.base.Values[keyIssued]; ok {
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
//  2. turn the old record into a tombstone forwarding to the new one for the
//     grace period (periodic rotation) or ending at once (explicit Rotate),
//     on condition that its version is still the one we copied.
//
// If a concurrent commit changed the old record in between, step 2 fails: we
// re-read it, overwrite the new record (no one else knows its ID yet) and try
// again. Commits that land on the tombstone afterwards are forwarded by their
// own requests. If the old record was destroyed, logout wins; if another
// request rotated first, we join its new token.
func (s *Session) rotateLocked(now time.Time) error {
	old := s.base
	oldTok, oldID := s.token, s.id
	newTok := newToken()
	newID := tokenID(newTok)
	moved := store.Moved{To: newID, Sealed: sealForward(oldTok, newTok)}
	// Only a periodic rotation forwards the old token. An explicit one is a
	// change of privilege: the old token dies at once (its tombstone is born
	// expired), so whoever holds it is not handed the new one.
	graceEnd := now.Add(s.m.cfg.rotateGrace)
	if s.rotate {
		graceEnd = now
	}
	created := false
	for attempt := 0; attempt < maxRotateAttempts; attempt++ {
		values := s.rotatedValues(old, now)
		userID := old.UserID
		if s.userSet {
			userID = s.userID
		}
		c := store.Change{
			Mode:      store.Create,
			Created:   old.Created,
			Set:       values,
			SetUserID: true,
			UserID:    userID,
			LastSeen:  now,
			Expires:   s.m.deadline(old.Created, now),
		}
		if created {
			c.Mode, c.Clear = store.Update, true
		}
		res, err := s.storeCommit(newID, c)
		if err != nil {
			if created {
				s.discard(newID)
			}
			return &StoreError{Op: "rotate", Err: err}
		}
		created = true

		err = s.storeMove(oldID, moved, graceEnd, old.Version)
		if err == nil {
			s.m.event(s.ctx, EventData{Kind: EventRotated, ID: newID, Periodic: !s.rotate})
			s.token, s.id, s.newCookie = newTok, newID, true
			s.base = &store.Record{Values: values, UserID: userID, Created: old.Created, LastSeen: now, Expires: c.Expires, Version: res.Version}
			s.rotate = false
			s.clearDirty()
			return nil
		}
		if errors.Is(err, store.ErrConflict) {
			if old, err = s.fetch(oldID); err != nil {
				s.discard(newID)
				return &StoreError{Op: "rotate", Err: err}
			}
			switch {
			case old == nil || (old.Moved == nil && !old.Live(now)):
				err = store.ErrNotFound
			case old.Moved != nil:
				err = &store.MovedError{Moved: *old.Moved}
			default:
				continue
			}
		}
		s.discard(newID)
		if mv, ok := store.IsMoved(err); ok {
			// Another request rotated first. Its token wins; ours was never
			// handed out. Our changes go to its record.
			s.rotate = false
			if !s.follow(&mv.Moved) {
				s.gone("tombstone does not open")
				return nil
			}
			s.base, s.loaded = nil, false
			return s.update(now, false)
		}
		if errors.Is(err, store.ErrNotFound) {
			s.gone("session ended during rotation")
			return nil
		}
		return &StoreError{Op: "rotate", Err: err}
	}
	s.discard(newID)
	return &StoreError{Op: "rotate", Err: store.ErrConflict}
}

// rotatedValues is the old record's values with every change this request
// made, stamped with the new token's issue time.
func (s *Session) rotatedValues(old *store.Record, now time.Time) map[string][]byte {
	values := maps.Clone(old.Values)
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
