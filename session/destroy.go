package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/tether-go/tether/store"
)

// ended is a session Destroy was called on: its ID, and the token that can
// open the tombstone it may have become.
type ended struct {
	id, token string

	// userID, for a revocation by ID (no token): the session is ended only
	// while it belongs to this user, and rotations are followed by their
	// plain forward address, re-checking the user at each step.
	userID string
}

// maxKillHops bounds how many rotations a logout or revocation follows. A
// session that rotates more often than that while it is being ended makes the
// revocation fail loudly rather than report success.
const maxKillHops = 16

// kill ends the session e, and whatever its tombstone forwards to, and
// reports whether it found e live (for a revocation by ID: a live record of
// e's user) on the way, even if that record then rotated out of reach.
//
// A plain Delete is not enough. If another request rotates the session
// between our read and our delete, we would delete the tombstone and leave
// the new record, whose cookie that request hands out: a logout that does not
// log out. So kill turns the record into a tombstone that forwards nothing,
// on condition that it is not a tombstone already (Move is the store's
// compare-and-swap). A rotation that lands first makes our Move fail, and we
// follow its tombstone; one that lands after finds the record ended, and
// discards its new record.
//
// The tombstone stays until the session would have expired: a request still
// in flight with the token finds it and drops its changes (logout wins),
// rather than find nothing and start a new session with them, which on a
// shared computer would hand the next user what the previous one's last
// request wrote.
//
// Which tombstones are followed depends on who asks. A logout (with the
// client's token) follows only a forward its token opens: a login's
// tombstone forwards nothing, and whoever holds a planted pre-login token must
// not be able to log the victim out of the session that login made. A
// revocation by ID ([Manager.DestroySession]) follows every tombstone by the
// new ID it names, ending the successor only while it belongs to the same
// user.
func (m *Manager) kill(ctx context.Context, e ended, depth int) (found bool, err error) {
	for range maxRotateAttempts {
		rec, err := m.callLoad(ctx, e.id)
		if err != nil {
			return found, err
		}
		if rec == nil {
			return found, nil
		}
		if rec.Moved != nil {
			next, ok := e.successor(rec.Moved)
			if !ok {
				return found, nil
			}
			if depth == maxKillHops {
				return found, fmt.Errorf("session %s rotated more than %d times while it was being ended: %w",
					shortID(e.id), maxKillHops, store.ErrConflict)
			}
			more, err := m.kill(ctx, next, depth+1)
			return found || more, err
		}
		if e.userID != "" && rec.UserID != e.userID {
			return found, nil // no longer that user's session: not ours to end
		}
		found = true
		until := m.cfg.now().Add(endedHold)
		if rec.Expires.After(until) {
			until = rec.Expires
		}
		// Any version: ending a session needs no consistent copy of its
		// values, and a condition on the version would let a client that
		// keeps writing (a thief with the cookie) fend the revocation off.
		// A rotation that lands first still wins (our Move finds its
		// tombstone, and we follow it).
		err = m.callMove(ctx, e.id, store.Moved{To: e.id}, until, 0)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, store.ErrNotFound):
			return found, nil
		case errors.Is(err, store.ErrConflict):
			continue
		}
		if _, moved := store.IsMoved(err); moved {
			continue
		}
		return found, err
	}
	return found, fmt.Errorf("session %s kept changing: %w", shortID(e.id), store.ErrConflict)
}

// successor is what a tombstone left by a rotation of e leads to, if kill
// should follow it.
func (e ended) successor(mv *store.Moved) (ended, bool) {
	if mv.To == e.id || !validID(mv.To) {
		return ended{}, false
	}
	if e.token == "" {
		return ended{id: mv.To, userID: e.userID}, e.userID != ""
	}
	if !mv.Forwards() {
		return ended{}, false
	}
	// A logout follows its own forward even past the grace period: ending
	// more of the same session is never wrong.
	tok, _, err := openForward(e.token, mv.Sealed)
	if err != nil || tokenID(tok) != mv.To {
		return ended{}, false
	}
	return ended{id: mv.To, token: tok}, true
}
