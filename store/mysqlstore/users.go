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

// DeleteUser implements [store.Store]: one transaction locks and counts the
// user's rows, then deletes them, live or expired, with their values.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if userID == "" || len(userID) > MaxUserIDLen {
		return 0, nil
	}
	var live int64
	err = s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		var total int64
		if err := tx.StmtContext(ctx, s.st.countUser).QueryRowContext(ctx, s.now(), []byte(userID)).Scan(&total, &live); err != nil {
			return err
		}
		if total == 0 {
			return nil
		}
		_, err := tx.StmtContext(ctx, s.st.deleteUser).ExecContext(ctx, []byte(userID))
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(live), nil
}
