package memcachestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

// Commit implements [store.Store].
//
// An update reads the record with its CAS id, applies the change to it in Go
// with [store.Change.Apply], and writes it back with a compare-and-swap; if
// another write landed in between, it reads again and reapplies, up to
// [WithCASRetries] times, then fails with an error matching
// [store.ErrConflict]. It never falls back to an unconditional set. A create
// uses memcached's add, which fails if the key is taken.
//
// A record larger than [WithMaxRecordSize], or whose encoding is larger than
// [WithMaxItemSize], is refused with a [*store.TooLargeError] before it is
// sent: when the change alone is over a limit, before any round trip.
//
// A commit of a session with a user also keeps the user's index (see the
// package documentation, "User index").
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := s.check(ctx); err != nil {
		return store.Result{}, err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return store.Result{}, errInvalidID("commit", id)
	}
	if n := changeSize(&c); n > 0 {
		if err := s.checkSize(n, n); err != nil {
			return store.Result{}, err
		}
	}
	var (
		res store.Result
		err error
	)
	switch c.Mode {
	case store.Create:
		res, err = s.create(ctx, id, key, &c)
	case store.Update:
		res, err = s.update(ctx, id, key, &c)
	default:
		return store.Result{}, fmt.Errorf("memcachestore: commit: unknown mode %s", c.Mode)
	}
	return res, outcome("commit", err)
}

// isOutcome reports whether err is one of the contract's typed outcomes,
// which are returned as they are.
func isOutcome(err error) bool {
	_, moved := store.IsMoved(err)
	return moved || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
		errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrTooLarge)
}

// outcome wraps err with the package and op unless it is a typed outcome.
func outcome(op string, err error) error {
	if err == nil || isOutcome(err) {
		return err
	}
	return wrap(op, err)
}

// changeSize is a lower bound of the size ([store.Record.Size]) of any record
// c leaves: every key and value it sets, and every attribute, ends up in it.
func changeSize(c *store.Change) int {
	n := 0
	if c.SetUserID || c.Mode == store.Create {
		n += len(c.UserID)
	}
	for k, v := range c.Set {
		n += len(k) + len(v)
	}
	if c.SetAttrs || c.Mode == store.Create {
		for k, v := range c.Attrs {
			n += len(k) + len(v)
		}
	}
	return n
}

// encode checks rec against the record limit, encodes it and checks the
// encoding against the item limit.
func (s *Store) encode(rec *store.Record) ([]byte, error) {
	if err := s.checkSize(rec.Size(), 0); err != nil {
		return nil, err
	}
	b := recordcodec.Marshal(rec)
	if err := s.checkSize(0, len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// checkSize refuses a record of size bytes ([store.Record.Size]) over
// [WithMaxRecordSize], or an encoding of encoded bytes over
// [WithMaxItemSize], with a *store.TooLargeError naming the limit it broke.
func (s *Store) checkSize(size, encoded int) error {
	if size > s.cfg.maxRecordSize {
		return &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize}
	}
	if encoded > s.cfg.maxItemSize {
		return fmt.Errorf("memcachestore: the record encodes to %d bytes, over the item limit (WithMaxItemSize): %w",
			encoded, &store.TooLargeError{Size: encoded, Limit: s.cfg.maxItemSize})
	}
	return nil
}

func (s *Store) create(ctx context.Context, id, key string, c *store.Change) (store.Result, error) {
	rec := &store.Record{
		Values:   c.Apply(store.Values{}),
		UserID:   c.UserID,
		Created:  c.Created,
		LastSeen: c.LastSeen,
		Expires:  c.Expires,
		Version:  1,
		Attrs:    c.Attrs, // only encoded, never retained
	}
	b, err := s.encode(rec)
	if err != nil {
		return store.Result{}, err
	}
	if !rec.Expires.After(s.now()) {
		// Born expired: there is nothing to store, but a live record
		// under id still makes it a create over an existing one.
		_, cur, err := s.getRecord(ctx, key)
		if err != nil {
			return store.Result{}, err
		}
		if cur != nil && cur.Live(s.now()) {
			return store.Result{}, store.ErrExists
		}
		return store.Result{Version: 1}, nil
	}
	item := &memcache.Item{Key: key, Value: b, Expiration: exptime(rec.Expires)}
	var added int64
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return store.Result{}, err
			}
		}
		if rec.UserID != "" && (attempt == 0 || s.now().Unix()-added >= indexRefresh) {
			if item.Flags, added, err = s.ensureIndexed(ctx, rec.UserID, id, rec.Expires, true); err != nil {
				return store.Result{}, err
			}
			s.indexChecked(id, time.Unix(added, 0))
		}
		err := s.call(ctx, func() error { return s.client.Add(item) })
		switch {
		case err == nil:
			return store.Result{Version: 1}, nil
		case tooLargeReply(err):
			return store.Result{}, &serverTooLarge{size: len(b), limit: s.cfg.maxItemSize}
		case !errors.Is(err, memcache.ErrNotStored):
			return store.Result{}, err
		}
		// The key is taken. By a live record: the create fails. By one
		// that expired by our clock but not yet by memcached's: replace
		// it, if nobody else does first.
		cur, err := s.get(ctx, key)
		if err != nil {
			return store.Result{}, err
		}
		if cur == nil {
			continue
		}
		if bytes.Equal(cur.Value, b) {
			// Our own add, whose reply was lost with its connection
			// and which call repeated.
			return store.Result{Version: 1}, nil
		}
		old, err := decodeRecord(cur)
		if err != nil {
			return store.Result{}, err
		}
		if old.Live(s.now()) {
			return store.Result{}, store.ErrExists
		}
		item.CasID = cur.CasID
		err = s.call(ctx, func() error { return s.client.CompareAndSwap(item) })
		switch {
		case err == nil:
			return store.Result{Version: 1}, nil
		case tooLargeReply(err):
			return store.Result{}, &serverTooLarge{size: len(b), limit: s.cfg.maxItemSize}
		case !lostRace(err):
			return store.Result{}, err
		}
	}
	return store.Result{}, s.errConflict("create")
}

func (s *Store) update(ctx context.Context, id, key string, c *store.Change) (store.Result, error) {
	var (
		indexedUser string // the user ensureIndexed last listed id under
		indexHint   uint32
		indexAdded  int64
	)
	sw, err := s.swapRecord(ctx, "commit", key, newTag(), nil, func(rec *store.Record, hint uint32, now time.Time) (*store.Record, uint32, error) {
		if rec == nil || !rec.Live(now) || (!c.LiveAt.IsZero() && !rec.Live(c.LiveAt)) {
			return nil, 0, store.ErrNotFound
		}
		if rec.Moved != nil {
			return nil, 0, &store.MovedError{Moved: *rec.Moved}
		}
		oldUser := rec.UserID
		rec.Values = c.Apply(rec.Values)
		if c.SetUserID {
			rec.UserID = c.UserID
		}
		if c.SetAttrs {
			rec.Attrs = c.Attrs // only encoded, never retained
		}
		if !c.LastSeen.IsZero() {
			rec.LastSeen = c.LastSeen
		}
		if !c.Expires.IsZero() {
			rec.Expires = c.Expires
		}
		rec.Version++
		if !rec.Expires.After(now) {
			return rec, 0, nil // the change ends the session
		}
		if err := s.checkSize(rec.Size(), 0); err != nil {
			return nil, 0, err
		}

		// Index before the record names the user, or outlives the index.
		var err error
		switch {
		case rec.UserID == "":
			hint = 0
		case rec.UserID != oldUser:
			if indexedUser != rec.UserID || now.Unix()-indexAdded >= indexRefresh {
				if indexHint, indexAdded, err = s.ensureIndexed(ctx, rec.UserID, id, rec.Expires, true); err != nil {
					return nil, 0, err
				}
				indexedUser = rec.UserID
				s.indexChecked(id, now)
			}
			hint = indexHint
		default:
			hint, err = s.keepIndexed(ctx, rec, id, hint, now)
		}
		return rec, hint, err
	})
	if err != nil {
		return store.Result{}, err
	}
	switch {
	case sw.ended:
		s.unindexGone(ctx, sw.from, id)
	case sw.from != sw.rec.UserID:
		s.unindexLeft(ctx, sw.from, id)
	}
	return store.Result{Version: sw.rec.Version}, nil
}
