package boltstore

import (
	"bytes"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// reaper deletes expired records every reap interval until Close.
func (s *Store) reaper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.reapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.reapRound()
		}
	}
}

// reapRound runs batches until one comes back short or the store closes. A
// failed batch ends the round; the next round tries again.
func (s *Store) reapRound() {
	for {
		select {
		case <-s.done:
			return
		default:
		}
		n, err := s.reapBatch()
		if err != nil || n < s.cfg.reapBatch {
			return
		}
	}
}

// reapBatch deletes up to one batch of expired records in one transaction
// and returns how many index entries it removed. It walks the expiry index
// from its start, which holds the earliest expiries, and stops at the first
// live one: it reads expired entries only, never the live sessions.
func (s *Store) reapBatch() (int, error) {
	var n int
	err := s.db.Update(func(tx *bolt.Tx) error {
		n = 0
		now := s.now()
		var keys [][]byte
		c := tx.Bucket(bucketExpiry).Cursor()
		for k, _ := c.First(); k != nil && len(keys) < s.cfg.reapBatch; k, _ = c.Next() {
			exp, _, err := parseExpiryKey(k)
			if err == nil && now.Before(exp) {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := s.reapEntry(tx, k); err != nil {
				return err
			}
		}
		n = len(keys)
		return nil
	})
	return n, err
}

// reapEntry removes the expiry index entry k and, if the record it names
// still expires then, the record and its user index entry.
func (s *Store) reapEntry(tx *bolt.Tx, k []byte) error {
	if err := tx.Bucket(bucketExpiry).Delete(k); err != nil {
		return err
	}
	exp, id, err := parseExpiryKey(k)
	if err != nil {
		return nil // a malformed entry: gone now
	}
	rec, err := s.get(tx, id)
	if errors.Is(err, ErrCorrupt) {
		return tx.Bucket(bucketRecords).Delete([]byte(id))
	}
	if err != nil || rec == nil || !rec.Expires.Equal(exp) {
		return err
	}
	if rec.UserID != "" {
		if err := tx.Bucket(bucketUsers).Delete(userKey(rec.UserID, id)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketRecords).Delete([]byte(id))
}
