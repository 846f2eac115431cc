package memcachestore

import (
	"context"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/store"
)

// Touch implements [store.Store]: a compare-and-swap loop like Commit's that
// changes the record's last-seen time, expiry and version only, so a touch
// racing a commit never writes back values the commit replaced. A past expiry
// ends the record.
//
// A touch of a session with a user also checks the user's index (one more
// round trip): it re-adds the session if the index lost it (memcached evicts
// rarely-read items first, and an index is read far less often than its
// sessions) and extends the index with the session. Touches are rare, at most
// one per session per touch interval, so this is where the index is kept
// honest.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return store.ErrNotFound
	}
	indexed := "" // the user ensureIndexed listed id under
	var hint uint32
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		it, rec, err := s.getRecord(ctx, key)
		if err != nil {
			return wrap("touch", err)
		}
		now := s.now()
		if rec == nil || !rec.Live(now) {
			return store.ErrNotFound
		}
		if rec.Moved != nil {
			return &store.MovedError{Moved: *rec.Moved}
		}
		rec.LastSeen, rec.Expires = lastSeen, expires
		rec.Version++
		if !expires.After(now) {
			err := s.expireItem(ctx, it)
			switch {
			case err == nil:
				s.unindexGone(ctx, rec.UserID, id)
				return nil
			case lostRace(err):
				continue
			}
			return wrap("touch", err)
		}
		b, err := s.encode(rec)
		if err != nil {
			return err
		}
		if rec.UserID == "" {
			hint = 0
		} else if indexed != rec.UserID {
			if hint, _, err = s.ensureIndexed(ctx, rec.UserID, id, expires, false); err != nil {
				return outcome("touch", err)
			}
			indexed = rec.UserID
		}
		item := &memcache.Item{Key: key, Value: b, Flags: hint, Expiration: exptime(expires), CasID: it.CasID}
		err = s.call(ctx, func() error { return s.client.CompareAndSwap(item) })
		switch {
		case err == nil:
			return nil
		case !lostRace(err):
			return wrap("touch", err)
		}
	}
	return s.errConflict("touch")
}
