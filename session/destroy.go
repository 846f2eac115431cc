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
			if depth < maxForwardHops && e.token != "" {
				if tok, err := openForward(e.token, rec.Moved.Sealed); err == nil && tokenID(tok) == rec.Moved.To {
					if err := m.kill(ctx, ended{id: rec.Moved.To, token: tok}, depth+1); err != nil {
						return err
					}
				}
			}
			return m.callDelete(ctx, e.id)
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
