package memcachestore

import (
	"bytes"
	"context"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/store"
)

// Move implements [store.Store]: a compare-and-swap loop that replaces the
// record with a tombstone if its version is ifVersion. The tombstone keeps the
// record's Created and LastSeen, takes a version of its own (the record's plus
// one), names no user, and leaves the user index.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return store.ErrNotFound
	}
	tried := false // a swap was sent, and may have landed unreported
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		it, rec, err := s.getRecord(ctx, key)
		if err != nil {
			return wrap("move", err)
		}
		now := s.now()
		switch {
		case rec == nil || !rec.Live(now):
			return store.ErrNotFound
		case rec.Moved != nil:
			if tried && rec.Moved.To == m.To && bytes.Equal(rec.Moved.Sealed, m.Sealed) {
				// Our swap landed; its reply was lost with the
				// connection, and call sent it again.
				return nil
			}
			return &store.MovedError{Moved: *rec.Moved}
		case rec.Version != ifVersion:
			return store.ErrConflict
		}
		user := rec.UserID
		if !expires.After(now) {
			// A tombstone that ends at once is no tombstone.
			err := s.expireItem(ctx, it)
			switch {
			case err == nil:
				s.unindexGone(ctx, user, id)
				return nil
			case lostRace(err):
				continue
			}
			return wrap("move", err)
		}
		tomb := &store.Record{
			Created:  rec.Created,
			LastSeen: rec.LastSeen,
			Expires:  expires,
			Version:  rec.Version + 1,
			Moved:    &store.Moved{To: m.To, Sealed: m.Sealed},
		}
		b, err := s.encode(tomb)
		if err != nil {
			return err
		}
		item := &memcache.Item{Key: key, Value: b, Expiration: exptime(expires), CasID: it.CasID}
		tried = true
		err = s.call(ctx, func() error { return s.client.CompareAndSwap(item) })
		switch {
		case err == nil:
			s.unindexGone(ctx, user, id)
			return nil
		case !lostRace(err):
			return wrap("move", err)
		}
	}
	return s.errConflict("move")
}
