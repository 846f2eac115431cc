package memcachestore

import (
	"context"

	"github.com/tether-go/tether/store"
)

// Delete implements [store.Store]. It reads the record first to learn its
// user, deletes it unconditionally (a logout wins over every write in flight,
// which then finds nothing to update), and removes it from the user's index,
// best effort. A record that does not decode is deleted all the same.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return nil
	}
	it, err := s.get(ctx, key)
	if err != nil {
		return wrap("delete", err)
	}
	if it == nil {
		return nil
	}
	var rec *store.Record
	if rec, err = decodeRecord(it); err != nil {
		s.logger().WarnContext(ctx, "memcachestore: deleting a corrupt record", "err", err)
	}
	err = s.call(ctx, func() error { return s.client.Delete(key) })
	if err != nil && !isMiss(err) {
		return wrap("delete", err)
	}
	if rec != nil {
		s.unindexGone(ctx, rec.UserID, id)
	}
	return nil
}
