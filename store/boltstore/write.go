package boltstore

import (
	"bytes"
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tether-go/tether/store"
)

// refusal wraps a write's contract outcome (ErrNotFound, ErrExists, ...):
// the write changed nothing, and its transaction may still commit the other
// writes of its group.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }

func refuse(err error) error { return refusal{err} }

// write runs fn in a write transaction and returns its outcome. If ctx has a
// deadline, it is compared with the process's clock inside the transaction,
// before fn: a write that waited past its deadline (for the writer lock, or
// behind a slow disk) changes nothing and returns an error matching
// context.DeadlineExceeded. fn must refuse (with refuse) before it writes
// anything.
func (s *Store) write(ctx context.Context, op string, late bool, fn func(tx *bolt.Tx, now time.Time) error) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	deadline, hasDeadline := ctx.Deadline()
	var outcome error
	apply := func(tx *bolt.Tx) error {
		outcome = nil
		if id := tx.ID(); id != s.lastTx {
			s.lastTx = id
			s.txns.Add(1)
		}
		if late && hasDeadline && !s.cfg.deadlineNow().Before(deadline) {
			outcome = errLate
			return nil
		}
		err := fn(tx, s.now())
		if r, ok := err.(refusal); ok {
			outcome = r.err
			return nil
		}
		return err
	}
	var err error
	switch s.cfg.commit {
	case boltBatch:
		err = s.db.Batch(apply)
	case serial:
		err = s.db.Update(apply)
	default:
		err = s.gc.do(apply)
	}
	if err != nil {
		return s.wrap(op, err)
	}
	return outcome
}

// put stores rec under id in place of old (the stored record, live or
// expired, or nil), keeping the expiry and user indexes in step.
func (s *Store) put(tx *bolt.Tx, id string, old, rec *store.Record) error {
	if size := rec.Size(); size > s.cfg.maxRecordSize {
		return refuse(&store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize})
	}
	if len(rec.UserID) > MaxUserIDLen {
		return refuse(&store.TooLargeError{Size: len(rec.UserID), Limit: MaxUserIDLen})
	}
	if err := s.unindex(tx, id, old, rec); err != nil {
		return err
	}
	if err := tx.Bucket(bucketRecords).Put([]byte(id), encodeRecord(rec)); err != nil {
		return err
	}
	if old == nil || !old.Expires.Equal(rec.Expires) {
		if err := tx.Bucket(bucketExpiry).Put(expiryKey(rec.Expires, id), nil); err != nil {
			return err
		}
	}
	if rec.UserID != "" && (old == nil || old.UserID != rec.UserID) {
		return tx.Bucket(bucketUsers).Put(userKey(rec.UserID, id), nil)
	}
	return nil
}

// unindex removes old's index entries under id that next (nil when the
// record goes) does not keep.
func (s *Store) unindex(tx *bolt.Tx, id string, old, next *store.Record) error {
	if old == nil {
		return nil
	}
	if next == nil || !old.Expires.Equal(next.Expires) {
		if err := tx.Bucket(bucketExpiry).Delete(expiryKey(old.Expires, id)); err != nil {
			return err
		}
	}
	if old.UserID != "" && (next == nil || next.UserID != old.UserID) {
		return tx.Bucket(bucketUsers).Delete(userKey(old.UserID, id))
	}
	return nil
}

// remove deletes the record under id (old, as stored) and its index entries.
func (s *Store) remove(tx *bolt.Tx, id string, old *store.Record) error {
	if err := s.unindex(tx, id, old, nil); err != nil {
		return err
	}
	return tx.Bucket(bucketRecords).Delete([]byte(id))
}

func validID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return refuse(ErrInvalidID)
	}
	return nil
}

// Commit implements [store.Store]. An Update that leaves LastSeen or Expires
// zero keeps the stored one, each on its own.
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	var version uint64
	err := s.write(ctx, "commit", true, func(tx *bolt.Tx, now time.Time) error {
		if err := validID(id); err != nil {
			return err
		}
		old, err := s.get(tx, id)
		if err != nil {
			return err
		}
		live := old != nil && old.Live(now)
		var rec *store.Record
		switch c.Mode {
		case store.Create:
			if live {
				return refuse(store.ErrExists)
			}
			rec = &store.Record{
				Values:  c.Apply(store.Values{}),
				UserID:  c.UserID,
				Created: c.Created.Round(0),
				Version: 1,
				Attrs:   c.Attrs, // encoded by put, not retained
			}
		case store.Update:
			if !live || (!c.LiveAt.IsZero() && !old.Live(c.LiveAt)) {
				return refuse(store.ErrNotFound)
			}
			if old.Moved != nil {
				return refuse(movedError(old.Moved))
			}
			rec = &store.Record{
				Values:  c.Apply(old.Values),
				UserID:  old.UserID,
				Created: old.Created,
				Version: old.Version + 1,
				Attrs:   old.Attrs,
			}
			if c.SetUserID {
				rec.UserID = c.UserID
			}
			if c.SetAttrs {
				rec.Attrs = c.Attrs // encoded by put, not retained
			}
		default:
			return refuse(errors.New("boltstore: unknown commit mode " + c.Mode.String()))
		}
		rec.LastSeen, rec.Expires = c.LastSeen.Round(0), c.Expires.Round(0)
		if c.Mode == store.Update {
			if c.LastSeen.IsZero() {
				rec.LastSeen = old.LastSeen
			}
			if c.Expires.IsZero() {
				rec.Expires = old.Expires
			}
		}
		version = rec.Version
		return s.put(tx, id, old, rec)
	})
	if err != nil {
		return store.Result{}, err
	}
	return store.Result{Version: version}, nil
}

// Touch implements [store.Store].
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	return s.write(ctx, "touch", true, func(tx *bolt.Tx, now time.Time) error {
		old, err := s.get(tx, id)
		if err != nil {
			return err
		}
		if old == nil || !old.Live(now) {
			return refuse(store.ErrNotFound)
		}
		if old.Moved != nil {
			return refuse(movedError(old.Moved))
		}
		rec := *old
		rec.LastSeen, rec.Expires = lastSeen.Round(0), expires.Round(0)
		rec.Version++
		return s.put(tx, id, old, &rec)
	})
}

// Move implements [store.Store]. The tombstone keeps the record's Created and
// LastSeen and has no user id. A Move that finds a tombstone to m.To, live or
// expired but not yet reaped, returns nil: it is the same Move, resent.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	return s.write(ctx, "move", true, func(tx *bolt.Tx, now time.Time) error {
		old, err := s.get(tx, id)
		switch {
		case err != nil:
			return err
		case old != nil && old.Moved != nil && old.Moved.To == m.To:
			return nil
		case old == nil || !old.Live(now):
			return refuse(store.ErrNotFound)
		case old.Moved != nil:
			return refuse(movedError(old.Moved))
		case ifVersion != 0 && old.Version != ifVersion:
			return refuse(store.ErrConflict)
		}
		rec := &store.Record{
			Created:  old.Created,
			LastSeen: old.LastSeen,
			Expires:  expires.Round(0),
			Version:  old.Version + 1,
			Moved:    &store.Moved{To: m.To, Sealed: bytes.Clone(m.Sealed)},
		}
		return s.put(tx, id, old, rec)
	})
}

// Delete implements [store.Store]. It is not subject to the late-write
// check: deleting again is always safe.
func (s *Store) Delete(ctx context.Context, id string) error {
	return s.write(ctx, "delete", false, func(tx *bolt.Tx, _ time.Time) error {
		old, err := s.get(tx, id)
		if errors.Is(err, ErrCorrupt) {
			// Let the operator remove a record that does not decode; the
			// reaper drops its index entries once they expire.
			return tx.Bucket(bucketRecords).Delete([]byte(id))
		}
		if old == nil || err != nil {
			return err
		}
		return s.remove(tx, id, old)
	})
}

func movedError(m *store.Moved) *store.MovedError {
	return &store.MovedError{Moved: store.Moved{To: m.To, Sealed: bytes.Clone(m.Sealed)}}
}
