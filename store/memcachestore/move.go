package memcachestore

import (
	"context"
	"time"

	"github.com/tether-go/tether/store"
)

// Move implements [store.Store]: a compare-and-swap loop that replaces the
// record with a tombstone if its version is ifVersion. The tombstone keeps the
// record's Created and LastSeen, takes a version of its own (the record's plus
// one), names no user, and leaves the user index. It lives until expires,
// also when m.Sealed is empty (a tombstone that forwards nothing), so that a
// Move sent again after its reply was lost finds it: a Move that finds a
// tombstone naming m.To (live, or expired but not yet dropped by memcached)
// reports success and changes nothing.
//
// A Move whose expires has already passed leaves nothing loadable: the
// record becomes a marker that every reader treats as missing and memcached
// drops within a minute. It names m.To too, so a resend recognises it.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return store.ErrNotFound
	}
	tag := m.To
	if tag == "" {
		tag = newTag() // names no new record: nothing to recognise it by
	}
	sw, err := s.swapRecord(ctx, "move", key, tag, nil, func(rec *store.Record, _ uint32, now time.Time) (*store.Record, uint32, error) {
		switch {
		case rec == nil || !rec.Live(now):
			return nil, 0, store.ErrNotFound
		case rec.Moved != nil:
			return nil, 0, &store.MovedError{Moved: *rec.Moved}
		case ifVersion != 0 && rec.Version != ifVersion:
			return nil, 0, store.ErrConflict
		}
		return &store.Record{
			Created:  rec.Created,
			LastSeen: rec.LastSeen,
			Expires:  expires,
			Version:  rec.Version + 1,
			Moved:    &store.Moved{To: m.To, Sealed: m.Sealed},
		}, 0, nil
	})
	if err != nil {
		return outcome("move", err)
	}
	s.unindexGone(ctx, sw.from, id)
	return nil
}
