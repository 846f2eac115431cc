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

// kill ends the session e, and whatever its tombstone forwards to.
//
// A plain Delete is not enough. If another request rotates the session
// between our read and our delete, we would delete the tombstone and leave
// the new record, whose cookie that request hands out: a logout that does not
// log out. So kill turns the record into a tombstone that is already expired,
// on condition that its version is the one we read (Move is the store's
// compare-and-swap). A rotation that lands first makes our Move fail, and we
// follow its tombstone; one that lands after finds the record ended, and
// discards its new record.
//
// Which tombstones are followed depends on who asks. A logout (with the
// client's token) follows only a forward its token opens: a login's
// tombstone forwards nothing, and whoever holds a planted pre-login token must
// not be able to log the victim out of the session that login made. A
// revocation by ID ([Manager.DestroySession]) follows every tombstone by the
// new ID it names, ending the successor only while it belongs to the same
// user.
func (m *Manager) kill(ctx context.Context, e ended, depth int) error {
	for range maxRotateAttempts {
		rec, err := m.callLoad(ctx, e.id)
		if err != nil {
			return err
		}
		if rec == nil {
			return nil
		}
		if rec.Moved != nil {
			if next, ok := e.successor(rec.Moved); ok && depth < maxForwardHops {
				if err := m.kill(ctx, next, depth+1); err != nil {
					return err
				}
			}
			return m.callDelete(ctx, e.id)
		}
		if e.userID != "" && rec.UserID != e.userID {
			return nil // no longer that user's session: not ours to end
		}
		err = m.callMove(ctx, e.id, store.Moved{To: e.id}, m.cfg.now(), rec.Version)
		switch {
		case err == nil:
			// Ended. Delete the dead tombstone now rather than leave it to
			// the store's expiry.
			return m.callDelete(ctx, e.id)
		case errors.Is(err, store.ErrNotFound):
			return nil
		case errors.Is(err, store.ErrConflict):
			continue
		}
		if _, moved := store.IsMoved(err); moved {
			continue
		}
		return err
	}
	return fmt.Errorf("session %s kept changing: %w", shortID(e.id), store.ErrConflict)
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
