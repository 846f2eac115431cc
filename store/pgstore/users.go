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

// DeleteUser implements [store.Store]: one statement deletes the user's rows,
// live or expired, and announces each.
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
	err = s.writeRow(ctx, s.q.deleteUser, []any{encodeUserID(userID), s.now(), s.n.channel}, &n)
	if err != nil {
		return 0, wrap("delete user", err)
	}
	return int(n), nil
}
