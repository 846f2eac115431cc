package memcachestore

import (
	"context"
	"time"

	"github.com/tether-go/tether/store"
)

// Touch implements [store.Store]: a compare-and-swap loop like Commit's that
// changes the record's last-seen time, expiry and version only, so a touch
// racing a commit never writes back values the commit replaced. A past expiry
// ends the record. Sent again after a lost reply, it sets the same times
// again.
//
// A touch of a session with a user also checks the user's index (one more
// round trip): it re-adds the session if the index lost it, extends the
// index with the session, and, by reading it, marks the index as in use in
// memcached's LRU (see the package documentation, "User index").
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return store.ErrNotFound
	}
	indexed := "" // the user ensureIndexed listed id under
	var indexHint uint32
	sw, err := s.swapRecord(ctx, "touch", key, newTag(), nil, func(rec *store.Record, _ uint32, now time.Time) (*store.Record, uint32, error) {
		if rec == nil || !rec.Live(now) {
			return nil, 0, store.ErrNotFound
		}
		if rec.Moved != nil {
			return nil, 0, &store.MovedError{Moved: *rec.Moved}
		}
		rec.LastSeen, rec.Expires = lastSeen, expires
		rec.Version++
		if rec.UserID == "" || !expires.After(now) {
			return rec, 0, nil
		}
		if indexed != rec.UserID {
			var err error
			if indexHint, _, err = s.ensureIndexed(ctx, rec.UserID, id, expires, false); err != nil {
				return nil, 0, err
			}
			indexed = rec.UserID
			s.indexChecked(id, now)
		}
		return rec, indexHint, nil
	})
	if err != nil {
		return outcome("touch", err)
	}
	if sw.ended {
		s.unindexGone(ctx, sw.from, id)
	}
	return nil
}
