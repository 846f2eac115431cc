package boltstore

import (
	"bytes"
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tether-go/tether/store"
)

// userIDs returns the IDs indexed under user: one key range of the user
// index, so the cost is the user's sessions, not the store's.
func userIDs(tx *bolt.Tx, user string) []string {
	prefix := userPrefix(user)
	var ids []string
	c := tx.Bucket(bucketUsers).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

// UserSessions implements [store.Store]. It walks the user's key range of
// the user index and decodes each record's metadata and attributes, not its
// values (decodeMeta): bbolt's memory map hands over the record's bytes in
// place, so a session's values are neither copied nor, past the pages its
// first bytes are on, read.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if userID == "" {
		return nil, nil
	}
	now := s.now()
	var infos []store.Info
	err := s.db.View(func(tx *bolt.Tx) error {
		infos = infos[:0]
		for _, id := range userIDs(tx, userID) {
			rec, err := s.getMeta(tx, id)
			if err != nil {
				return err
			}
			if rec != nil && rec.Live(now) && rec.UserID == userID && rec.Moved == nil {
				infos = append(infos, rec.Info(id))
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap("user sessions", err)
	}
	return infos, nil
}

// DeleteUser implements [store.Store]. It deletes the user's records in one
// transaction, so a concurrent Commit either lands before (and is deleted)
// or after (and finds no record).
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, s.check(ctx)
	}
	var n int
	err := s.write(ctx, "delete user", false, func(tx *bolt.Tx, now time.Time) error {
		n = 0
		for _, id := range userIDs(tx, userID) {
			rec, err := s.get(tx, id)
			if err != nil {
				return err
			}
			if rec == nil || rec.UserID != userID {
				// A stale entry: drop it alone.
				if err := tx.Bucket(bucketUsers).Delete(userKey(userID, id)); err != nil {
					return err
				}
				continue
			}
			if rec.Live(now) {
				n++
			}
			if err := s.remove(tx, id, rec); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
