package pgstore

import (
	"context"
	"fmt"

	"github.com/tether-go/tether/internal/attrcodec"

	"github.com/tether-go/tether/store"
)

// The user index is the user_id column and its partial index: a record
// leaves it when the column changes, so there are no index entries to clean
// up. Expired rows stay in the column until the reaper deletes them, and the
// queries skip them.

// UserSessions implements [store.Store]. The empty user id names no user and
// lists nothing.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if userID == "" || len(userID) > MaxUserIDLen {
		return nil, nil // "" is stored as NULL: no user; no longer one is stored
	}
	rows, err := s.pool.Query(ctx, s.q.userSessions, encodeUserID(userID), s.now())
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	defer rows.Close()
	var infos []store.Info
	for rows.Next() {
		in := store.Info{UserID: userID}
		var attrs []byte
		if err := rows.Scan(&in.ID, &in.Created, &in.LastSeen, &in.Expires, &attrs); err != nil {
			return nil, wrap("user sessions", err)
		}
		if in.Attrs, err = attrcodec.Decode(attrs); err != nil {
			return nil, fmt.Errorf("pgstore: user sessions: session %.8s…: %w", in.ID, err)
		}
		infos = append(infos, in)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("user sessions", err)
	}
	return infos, nil
}

// DeleteUser implements [store.Store]: one statement ends the user's live
// sessions, deletes the user's expired rows, and announces each
// row it changed. A session ends as a logout leaves it: a tombstone that
// forwards nothing (moved_to its own ID, no sealed token), without values,
// user id or attributes, at the next version, kept until the session would
// have expired (the reaper then deletes it). A request in flight with the
// session's token that writes after it finds the session ended (a
// [*store.MovedError]) and drops its changes; had the row been deleted, the
// write would find nothing, which reads as an expired session, and a request
// that only writes would save its changes in a new one. The tombstone is in
// no user's index, so UserSessions does not list it and a second DeleteUser
// neither touches nor counts it.
//
// The statement runs at READ COMMITTED (under a stricter default, a
// serialization failure runs it again in an explicit READ COMMITTED
// transaction, as for every write; see the package documentation): a row
// that a concurrent write changed first is judged again, in its new version,
// once the statement holds its lock. A record that rotated away meanwhile is
// then a tombstone outside the index and is left as it is, and the record it
// moved to, created before the move, is ended if the statement's snapshot
// saw it and is otherwise listed by the next UserSessions: the bound the
// contract sets on a rotation racing DeleteUser. A rotation whose Move comes
// second finds its old record ended and fails. A commit racing DeleteUser
// either lands first, and its record is ended with it, or comes second and
// gets the MovedError. An expired row re-created meanwhile (a new login) is
// live again when judged, and is left alone.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if userID == "" || len(userID) > MaxUserIDLen {
		return 0, nil
	}
	var n int64
	now := s.now()
	err = s.writeRow(ctx, s.q.deleteUser, []any{encodeUserID(userID), now, s.n.channel, now.Add(-reapGrace)}, &n)
	if err != nil {
		return 0, wrap("delete user", err)
	}
	return int(n), nil
}
