package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tether-go/tether/internal/attrcodec"
	"github.com/tether-go/tether/store"
)

// The user index is the user_id column and its index: a record leaves it
// when the column changes, so there are no index entries to clean up.
// Expired rows stay in the column until the reaper deletes them, and the
// queries skip them.

// UserSessions implements [store.Store]. The empty user id names no user and
// lists nothing.
//
// It is one SELECT, which at READ COMMITTED or REPEATABLE READ (InnoDB's
// default) reads one snapshot, and a rotation commits its new row before it
// moves the old one: a session that rotates while it runs is listed under
// one of its rows, never under neither. At READ UNCOMMITTED a scan reads no
// snapshot and can miss such a session, and "log out everywhere" with it:
// do not give the store's connections that isolation level.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if userID == "" || len(userID) > MaxUserIDLen {
		return nil, nil // "" is stored as NULL: no user; no longer one is stored
	}
	rows, err := s.st.userSessions.QueryContext(ctx, []byte(userID), s.now())
	if err != nil {
		return nil, s.wrap("user sessions", err)
	}
	defer rows.Close()
	var infos []store.Info
	for rows.Next() {
		var id, rawAttrs sql.RawBytes
		var created, lastSeen, expires int64
		if err := rows.Scan(&id, &created, &lastSeen, &expires, &rawAttrs); err != nil {
			return nil, s.wrap("user sessions", err)
		}
		attrs, err := attrcodec.Decode(rawAttrs) // copies
		if err != nil {
			return nil, fmt.Errorf("mysqlstore: user sessions: session %.8s…: %w", id, err)
		}
		infos = append(infos, store.Info{
			ID: string(id), UserID: userID,
			Created: time.Unix(0, created), LastSeen: time.Unix(0, lastSeen), Expires: time.Unix(0, expires),
			Attrs: attrs,
		})
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("user sessions", err)
	}
	return infos, nil
}

// DeleteUser implements [store.Store]: one READ COMMITTED transaction ends
// the user's live sessions and deletes the user's expired rows. A session
// ends as a logout leaves it: a tombstone that forwards nothing (moved_to its
// own ID, an empty sealed token), without values, user id or attributes, at
// the next version, kept until the session would have expired (the reaper
// then deletes it). A request in flight with the session's token that writes
// after it finds the session ended (a [*store.MovedError]) and drops its
// changes; had the row been deleted, the write would find nothing, which
// reads as an expired session, and a request that only writes would save its
// changes in a new one. The tombstone is in no user's index, so UserSessions
// does not list it and a second DeleteUser neither touches nor counts it.
//
// The transaction's statements (see endUser and the ones after it in
// queries.go) first end the user's rows in one statement, keeping their
// user id, then count the ended rows that are live by the store's clock
// (the rest expired less than the reap grace ago, and may be live by a
// slower node's clock), then delete their values, then clear their user id,
// then delete the expired rows. A tombstone's values cannot be deleted in
// the statement that makes it (no MySQL statement updates one table and
// deletes from another), and at READ COMMITTED, without gap locks, a
// session can join the user between two statements (a login, or a commit
// that sets the user id). Ending first, in one statement, and finding the
// ended rows again by user id and moved_to makes the statements agree on
// their rows: a session that joins later is live, so it is not counted, the
// values of no live session are deleted, and none is left a tombstone with
// values; it stays live and is listed by the next UserSessions, as a
// session logged in after DeleteUser may be. The count is thus exactly the
// sessions the call ended that were live by its clock. Until the commit no
// other transaction sees the tombstones under the user id, and every other
// write of them waits for their row lock.
//
// Under concurrency each UPDATE and DELETE locks the rows it changes and
// judges a row that another transaction holds by its newest version once the
// lock is granted: a commit or Touch that lands first is ended with the
// session, and one that comes second finds the tombstone (a MovedError). A
// session that rotated away meanwhile (its Move came first) is a tombstone
// outside the index and is left alone, and the record it moved to, created
// before the move, is ended if the scan reached it and otherwise listed by
// the next UserSessions, the bound the contract sets on a rotation racing
// DeleteUser; one whose Move comes second finds its old record ended and
// fails. An expired row re-created meanwhile is live again and not deleted.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if userID == "" || len(userID) > MaxUserIDLen {
		return 0, nil
	}
	// Sessions that expired less than reapGrace ago by this node's clock may
	// be live by a slower node's: they are ended too, not counted, and only
	// older rows are deleted, as the reaper judges.
	user, now := []byte(userID), s.now()
	settled := now - int64(reapGrace)
	var live int64
	err = s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		live = 0 // an attempt InnoDB rolled back counted nothing
		res, err := tx.StmtContext(ctx, s.st.endUser).ExecContext(ctx, user, settled)
		if err != nil {
			return err
		}
		ended, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if s.cfg.afterEnd != nil {
			s.cfg.afterEnd()
		}
		if ended > 0 {
			if err := tx.StmtContext(ctx, s.st.countEnded).QueryRowContext(ctx, user, now).Scan(&live); err != nil {
				return err
			}
			if _, err := tx.StmtContext(ctx, s.st.clearUser).ExecContext(ctx, user); err != nil {
				return err
			}
			if _, err := tx.StmtContext(ctx, s.st.releaseUser).ExecContext(ctx, user); err != nil {
				return err
			}
		}
		_, err = tx.StmtContext(ctx, s.st.purgeUser).ExecContext(ctx, user, settled)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(live), nil
}
