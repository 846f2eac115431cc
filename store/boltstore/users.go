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

// DeleteUser implements [store.Store] in one write transaction over the
// user's key range of the user index.
//
// It ends each live record of the user as a logout does: the record becomes
// a tombstone that forwards nothing (Moved.To its own ID, no sealed token),
// with no values, user id or attributes and the next version, keeping its
// Created, LastSeen and expiry, as Move leaves one; so it lasts as long as
// the session would have. A request in flight with the session's token then
// gets a *store.MovedError from its write, and drops its changes, rather
// than ErrNotFound, which would let a write-only request save them in a new
// session. put drops the tombstone's user index entry and keeps its expiry
// entry, so the reaper deletes it when it expires, and neither UserSessions
// nor a later DeleteUser finds it. Expired records of the user (and a
// tombstone still indexed under the user, which no write leaves) are
// deleted, uncounted, and stale index entries dropped.
//
// One transaction, so nothing comes between: a concurrent Commit, Touch or
// Move either lands before (and the record it wrote is ended) or after (and
// finds the tombstone); a rotation's new record is either created before
// (and ended) or after, and then listed by the next UserSessions.
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
			if !rec.Live(now) || rec.Moved != nil {
				if err := s.remove(tx, id, rec); err != nil {
					return err
				}
				continue
			}
			err = s.put(tx, id, rec, rec.Ended(id))
			if _, refused := err.(refusal); refused {
				// Only a record size limit below the ID's length
				// refuses the tombstone, which holds the ID and nothing
				// else; put wrote nothing. Ending the session matters
				// more than the tombstone: delete it.
				err = s.remove(tx, id, rec)
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
