package memstore

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"time"

	"github.com/tether-go/tether/store"
)

// late reports whether ctx's deadline has passed at now, the store's time
// inside the write's critical section. Without a deadline nothing is late.
func late(ctx context.Context, now time.Time) bool {
	d, ok := ctx.Deadline()
	return ok && !now.Before(d)
}

// Commit implements [store.Store]. An Update that leaves LastSeen or Expires
// zero keeps the stored one, each on its own.
//
// A commit whose context deadline has passed by the store's clock when it
// holds the record's lock changes nothing and returns an error matching
// [context.DeadlineExceeded]. One that would make the record larger than
// [WithMaxRecordSize] (or [WithMaxBytes]) changes nothing and returns a
// [*store.TooLargeError].
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := s.check(ctx); err != nil {
		return store.Result{}, err
	}
	// Every key of c.Set ends up in the record, so once they alone exceed
	// the limit the commit is refused, before a hostile value is copied
	// (Apply copies the values into the record's own).
	n := len(c.UserID)
	if !c.SetUserID && c.Mode == store.Update {
		n = 0 // the stored user id counts, but is not known yet
	}
	for k, v := range c.Set {
		if n += len(k) + len(v); n > s.cfg.maxRecordSize {
			return store.Result{}, &store.TooLargeError{Size: n, Limit: s.cfg.maxRecordSize}
		}
	}
	var attrs map[string]string
	if (c.SetAttrs || c.Mode == store.Create) && len(c.Attrs) > 0 {
		for k, v := range c.Attrs {
			if n += len(k) + len(v); n > s.cfg.maxRecordSize {
				return store.Result{}, &store.TooLargeError{Size: n, Limit: s.cfg.maxRecordSize}
			}
		}
		attrs = maps.Clone(c.Attrs)
	}

	sh := s.shard(id)
	sh.mu.Lock()
	now := s.now()
	if late(ctx, now) {
		sh.mu.Unlock()
		return store.Result{}, errLate
	}
	old, cur := s.live(sh, id, now)
	var rec *store.Record
	switch c.Mode {
	case store.Create:
		if cur != nil {
			sh.mu.Unlock()
			return store.Result{}, store.ErrExists
		}
		rec = &store.Record{
			Values:  c.Apply(store.Values{}),
			UserID:  c.UserID,
			Created: c.Created.Round(0),
			Version: 1,
			Attrs:   attrs,
		}
	case store.Update:
		if cur == nil || (!c.LiveAt.IsZero() && !cur.Live(c.LiveAt)) {
			sh.mu.Unlock()
			return store.Result{}, store.ErrNotFound
		}
		if cur.Moved != nil {
			sh.mu.Unlock()
			return store.Result{}, movedError(cur.Moved)
		}
		rec = &store.Record{
			Values:  c.Apply(cur.Values),
			UserID:  cur.UserID,
			Created: cur.Created,
			Version: cur.Version + 1,
			Attrs:   cur.Attrs, // records are never changed in place: sharing is safe
		}
		if c.SetUserID {
			rec.UserID = c.UserID
		}
		if c.SetAttrs {
			rec.Attrs = attrs
		}
	default:
		sh.mu.Unlock()
		return store.Result{}, errors.New("memstore: unknown commit mode " + c.Mode.String())
	}
	// Without monotonic clock readings, all comparisons of stored times
	// use the wall clock, so the expiry heap's order is consistent.
	rec.LastSeen, rec.Expires = c.LastSeen.Round(0), c.Expires.Round(0)
	// An update that never loaded the record leaves the times zero to keep
	// the stored ones. Each is kept on its own: a zero expiry is never meant.
	if c.Mode == store.Update {
		if c.LastSeen.IsZero() {
			rec.LastSeen = cur.LastSeen
		}
		if c.Expires.IsZero() {
			rec.Expires = cur.Expires
		}
	}
	user := rec.UserID != ""
	err := s.putLocked(sh, id, old, rec, user)
	sh.mu.Unlock()
	if err != nil {
		return store.Result{}, err
	}
	s.evict(id, user)
	return store.Result{Version: rec.Version}, nil
}

// Touch implements [store.Store]. A touch whose context deadline has passed
// by the store's clock changes nothing, as for [Store.Commit].
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	sh := s.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	now := s.now()
	if late(ctx, now) {
		return errLate
	}
	old, cur := s.live(sh, id, now)
	if cur == nil {
		return store.ErrNotFound
	}
	if cur.Moved != nil {
		return movedError(cur.Moved)
	}
	rec := *cur
	rec.LastSeen, rec.Expires = lastSeen.Round(0), expires.Round(0)
	rec.Version++
	// Same size and class as before: no bound can be crossed.
	err := s.putLocked(sh, id, old, &rec, old.user)
	return err
}

// Move implements [store.Store]. The tombstone keeps the record's Created and
// LastSeen, takes a version of its own (the record's plus one) and has no user
// id. A Move that finds the live tombstone it would make (same m.To) returns
// nil and changes nothing; a late one (see [Store.Commit]) changes nothing
// and returns an error matching [context.DeadlineExceeded].
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	sh := s.shard(id)
	sh.mu.Lock()
	now := s.now()
	if late(ctx, now) {
		sh.mu.Unlock()
		return errLate
	}
	old, cur := s.live(sh, id, now)
	switch {
	case cur == nil:
		sh.mu.Unlock()
		return store.ErrNotFound
	case cur.Moved != nil && cur.Moved.To == m.To:
		sh.mu.Unlock()
		return nil // this Move, run again: its effect is there
	case cur.Moved != nil:
		sh.mu.Unlock()
		return movedError(cur.Moved)
	case ifVersion != 0 && cur.Version != ifVersion:
		sh.mu.Unlock()
		return store.ErrConflict
	}
	rec := &store.Record{
		Created:  cur.Created,
		LastSeen: cur.LastSeen,
		Expires:  expires.Round(0),
		Version:  cur.Version + 1,
		Moved:    &store.Moved{To: m.To, Sealed: bytes.Clone(m.Sealed)},
	}
	// The tombstone of a user's session stays in the user class: until its
	// grace period ends it is how that user's in-flight requests find the
	// session.
	user := old.user
	err := s.putLocked(sh, id, old, rec, user)
	sh.mu.Unlock()
	if err == nil {
		s.evict(id, user)
	}
	return err
}

// Delete implements [store.Store].
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	sh := s.shard(id)
	sh.mu.Lock()
	if e := sh.m[id]; e != nil {
		s.removeLocked(sh, id, e)
	}
	sh.mu.Unlock()
	return nil
}

// putLocked stores rec under id in place of old (nil if there was none), in
// the class user, keeping the counters, the heaps and the user index in step.
// It refuses a record over either size bound. The caller holds sh.mu.
func (s *Store) putLocked(sh *shard, id string, old *entry, rec *store.Record, user bool) error {
	// Close may have emptied this shard after our first check: do not
	// refill it.
	if s.closed.Load() {
		return ErrClosed
	}
	rsize := rec.Size()
	if rsize > s.cfg.maxRecordSize {
		return &store.TooLargeError{Size: rsize, Limit: s.cfg.maxRecordSize}
	}
	size := int64(len(id) + rsize)
	if size > s.cfg.maxBytes {
		return &store.TooLargeError{Size: int(size), Limit: int(s.cfg.maxBytes)}
	}
	e, oldUser := old, ""
	if old != nil {
		oldUser = old.rec.UserID
		s.bytes.Add(size - old.size)
		expires := expiryKey(rec.Expires)
		expiryChanged := old.expires != expires
		old.rec, old.size, old.expires = rec, size, expires
		switch {
		case old.user != user:
			sh.heap(old.user).remove(int(old.index))
			old.user = user
			sh.heap(user).push(old)
		case expiryChanged:
			sh.heap(user).fix(int(old.index))
		}
	} else {
		s.entries.Add(1)
		s.bytes.Add(size)
		e = &entry{id: id, rec: rec, size: size, user: user, expires: expiryKey(rec.Expires)}
		sh.m[id] = e
		sh.heap(user).push(e)
	}
	if oldUser != rec.UserID {
		s.users.remove(oldUser, id)
		s.users.add(rec.UserID, id)
	}
	return nil
}

// removeLocked deletes the entry e under id. The caller holds sh.mu.
func (s *Store) removeLocked(sh *shard, id string, e *entry) {
	delete(sh.m, id)
	sh.heap(e.user).remove(int(e.index))
	s.entries.Add(-1)
	s.bytes.Add(-e.size)
	s.users.remove(e.rec.UserID, id)
}

func movedError(m *store.Moved) *store.MovedError {
	return &store.MovedError{Moved: store.Moved{To: m.To, Sealed: bytes.Clone(m.Sealed)}}
}
