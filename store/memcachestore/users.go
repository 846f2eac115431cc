package memcachestore

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/store"
)

// The user index keeps one invariant: every record that names a user is listed
// in that user's index (it may list more). So an index entry is added before
// the record names the user, and removed only when the record cannot name the
// user any more. The constants below make that hold without a lock across the
// two items; see the package documentation, "User index".
const (
	// indexGrace protects young entries: clean-ups never drop an entry added
	// less than this long ago, even if its record does not name the user
	// (yet): its writer may still be between the index write and the record
	// write.
	indexGrace = 60 // seconds

	// indexRefresh is the oldest entry a writer about to make a record name
	// the user relies on without re-adding it. A writer whose record write
	// lands within indexGrace-indexRefresh (45 s, less clock skew between
	// nodes) of the index write is safe; the commit loop re-adds the entry if
	// it takes longer.
	indexRefresh = 15 // seconds

	// indexSlack is how far past the session that extends it an index's
	// deadline is pushed, so that commits extending the session rarely need
	// to write the index again.
	indexSlack = 3600 // seconds

	// indexPruneAt is the number of entries from which adding an entry first
	// drops the entries of dead sessions, so that an index whose user never
	// calls UserSessions stays bounded.
	indexPruneAt = 32

	// fetchBatch bounds the records read by one GetMulti.
	fetchBatch = 32
)

// readIndex reads the user index item under key, or returns nils if there is
// none.
func (s *Store) readIndex(ctx context.Context, key string) (*memcache.Item, *index, error) {
	it, err := s.get(ctx, key)
	if it == nil || err != nil {
		return nil, nil, err
	}
	x, err := unmarshalIndex(it.Value)
	if err != nil {
		return nil, nil, fmt.Errorf("%w %s: %w", ErrCorrupt, key, err)
	}
	return it, x, nil
}

// ensureIndexed makes user's index list id and last at least until expires,
// before a write makes the record under id name user (fresh) or extends such
// a record (not fresh). A fresh entry must have been added within
// indexRefresh. It returns the index's deadline, which the record item keeps
// as a hint in its flags so that later commits know whether the index needs
// extending, and when the entry was added.
func (s *Store) ensureIndexed(ctx context.Context, user, id string, expires time.Time, fresh bool) (hint uint32, added int64, err error) {
	key := s.indexKey(user)
	need := expSeconds(expires)
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return 0, 0, err
			}
		}
		it, x, err := s.readIndex(ctx, key)
		if err != nil {
			return 0, 0, err
		}
		if x == nil {
			x = newIndex()
		}
		now := s.now().Unix()
		added, listed := x.entries[id]
		if listed && x.expires >= need && (!fresh || now-added < indexRefresh) {
			return hintOf(x.expires), added, nil
		}
		if !listed && len(x.entries) >= indexPruneAt {
			s.prune(ctx, user, x)
		}
		if !listed || fresh {
			added = now
			x.entries[id] = added
		}
		if x.expires < need {
			x.expires = need + indexSlack
		}
		b := x.marshal()
		if len(b) > s.cfg.maxItemSize {
			return 0, 0, fmt.Errorf("user index of %d sessions: %w", len(x.entries), &store.TooLargeError{Size: len(b), Limit: s.cfg.maxItemSize})
		}
		item := &memcache.Item{Key: key, Value: b, Expiration: exptimeAt(x.expires)}
		if it == nil {
			err = s.call(ctx, func() error { return s.client.Add(item) })
		} else {
			item.CasID = it.CasID
			err = s.call(ctx, func() error { return s.client.CompareAndSwap(item) })
		}
		switch {
		case err == nil:
			return hintOf(x.expires), added, nil
		case lostRace(err):
			continue
		case tooLargeReply(err):
			return 0, 0, &serverTooLarge{size: len(b), limit: s.cfg.maxItemSize}
		}
		return 0, 0, err
	}
	return 0, 0, s.errConflict("user index")
}

func hintOf(sec int64) uint32 {
	return uint32(min(max(sec, 0), math.MaxUint32))
}

// unindex removes the entries drop selects from user's index, starting from
// the item it and its decoded x if the caller has them, and deletes the index
// when it ends up empty. Dropping is always safe for records that are gone for
// good (deleted, expired, moved); for others drop must respect indexGrace.
func (s *Store) unindex(ctx context.Context, user string, it *memcache.Item, x *index, drop func(id string, added int64) bool) error {
	key := s.indexKey(user)
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		if attempt > 0 || it == nil {
			var err error
			if it, x, err = s.readIndex(ctx, key); err != nil || it == nil {
				return err
			}
		}
		n := len(x.entries)
		maps.DeleteFunc(x.entries, drop)
		if len(x.entries) == n {
			return nil
		}
		item := &memcache.Item{Key: key, CasID: it.CasID, Expiration: expired}
		if len(x.entries) > 0 {
			item.Value, item.Expiration = x.marshal(), exptimeAt(x.expires)
		}
		err := s.call(ctx, func() error { return s.client.CompareAndSwap(item) })
		switch {
		case err == nil:
			return nil
		case !lostRace(err):
			return err
		}
	}
	return s.errConflict("user index")
}

// unindexGone removes id, whose record is gone for good, from user's index.
// It is best effort: a failure leaves an entry that a later clean-up drops.
func (s *Store) unindexGone(ctx context.Context, user, id string) {
	if user == "" {
		return
	}
	err := s.unindex(ctx, user, nil, nil, func(e string, _ int64) bool { return e == id })
	if err != nil {
		s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "remove", "err", err)
	}
}

// unindexLeft removes id from the index of user, whose session it no longer
// is, unless the entry is young: another writer may be about to make the
// record name user again. Best effort, like unindexGone.
func (s *Store) unindexLeft(ctx context.Context, user, id string) {
	if user == "" {
		return
	}
	now := s.now().Unix()
	err := s.unindex(ctx, user, nil, nil, func(e string, added int64) bool {
		return e == id && now-added > indexGrace
	})
	if err != nil {
		s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "remove", "err", err)
	}
}

// fetchRecords reads the record items of ids, a batch at a time. IDs that
// cannot be keys (only a corrupt index holds them) are left out, as missing.
func (s *Store) fetchRecords(ctx context.Context, ids []string) (map[string]*memcache.Item, error) {
	out := make(map[string]*memcache.Item, len(ids))
	keys := make([]string, 0, min(len(ids), fetchBatch))
	byKey := make(map[string]string, min(len(ids), fetchBatch))
	for chunk := range slices.Chunk(ids, fetchBatch) {
		keys, byKey = keys[:0], clearMap(byKey)
		for _, id := range chunk {
			if key, ok := s.recordKey(id); ok {
				keys = append(keys, key)
				byKey[key] = id
			}
		}
		if len(keys) == 0 {
			continue
		}
		var items map[string]*memcache.Item
		err := s.call(ctx, func() (err error) {
			items, err = s.client.GetMulti(keys)
			return err
		})
		if err != nil {
			return nil, err
		}
		for key, it := range items {
			if id, ok := byKey[key]; ok {
				out[id] = it
			}
		}
	}
	return out, nil
}

func clearMap[M ~map[K]V, K comparable, V any](m M) M {
	clear(m)
	return m
}

// session decodes it, one of user's indexed sessions, and reports whether it
// is a live session of user: there, decodable, not expired, not a tombstone,
// naming user.
func (s *Store) session(ctx context.Context, user string, it *memcache.Item, now time.Time) (*store.Record, bool) {
	if it == nil {
		return nil, false
	}
	rec, err := decodeRecord(it)
	if err != nil {
		s.logger().WarnContext(ctx, "memcachestore: user index names a corrupt record", "err", err)
		return nil, false
	}
	return rec, rec.Live(now) && rec.Moved == nil && rec.UserID == user
}

// prune drops from x the entries of sessions that are no longer user's,
// unless they are young. Best effort: on a read error x is left as it was.
func (s *Store) prune(ctx context.Context, user string, x *index) {
	items, err := s.fetchRecords(ctx, slices.Collect(maps.Keys(x.entries)))
	if err != nil {
		s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "prune", "err", err)
		return
	}
	now := s.now()
	for id, added := range x.entries {
		if _, live := s.session(ctx, user, items[id], now); !live && now.Unix()-added > indexGrace {
			delete(x.entries, id)
		}
	}
}

// UserSessions implements [store.Store]. It reads the user's index and the
// records it names (one round trip for the index, one per 32 sessions per
// server), and drops from the index, best effort, the entries of sessions
// that ended.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if userID == "" {
		return nil, nil
	}
	it, x, err := s.readIndex(ctx, s.indexKey(userID))
	if err != nil || x == nil {
		return nil, wrap("user sessions", err)
	}
	items, err := s.fetchRecords(ctx, slices.Collect(maps.Keys(x.entries)))
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	now := s.now()
	var infos []store.Info
	stale := map[string]int64{}
	for id, added := range x.entries {
		rec, live := s.session(ctx, userID, items[id], now)
		switch {
		case live:
			infos = append(infos, rec.Info(id))
		case now.Unix()-added > indexGrace:
			stale[id] = added
		}
	}
	if len(stale) > 0 {
		// Drop an entry only if nobody re-added it since we read it.
		err := s.unindex(ctx, userID, it, x, func(id string, added int64) bool {
			a, ok := stale[id]
			return ok && a == added
		})
		if err != nil {
			s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "clean", "err", err)
		}
	}
	return infos, nil
}

// DeleteUser implements [store.Store]. Each live session of the user is
// deleted with a compare-and-swap, so a session that another request moved
// to another user or rotated meanwhile is left alone, and a commit racing the
// delete fails instead of bringing the session back.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, nil
	}
	_, x, err := s.readIndex(ctx, s.indexKey(userID))
	if err != nil || x == nil {
		return 0, wrap("delete user", err)
	}
	items, err := s.fetchRecords(ctx, slices.Collect(maps.Keys(x.entries)))
	if err != nil {
		return 0, wrap("delete user", err)
	}
	now := s.now()
	deleted := 0
	drop := map[string]int64{} // id → the entry's time; -1: any
	for id, added := range x.entries {
		ok, err := s.deleteSession(ctx, userID, items[id])
		if err != nil {
			return deleted, wrap("delete user", err)
		}
		switch {
		case ok:
			deleted++
			drop[id] = -1
		case now.Unix()-added > indexGrace:
			drop[id] = added
		}
	}
	if len(drop) > 0 {
		err := s.unindex(ctx, userID, nil, nil, func(id string, added int64) bool {
			a, ok := drop[id]
			return ok && (a == -1 || a == added)
		})
		if err != nil {
			s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "delete user", "err", err)
		}
	}
	return deleted, nil
}

// deleteSession ends the record of it if it is a live session of user, with
// a compare-and-swap that fails if the record changed since it was read; it
// then reads the record again and decides again. It reports whether it ended
// a live session.
func (s *Store) deleteSession(ctx context.Context, user string, it *memcache.Item) (bool, error) {
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return false, err
			}
			var err error
			if it, err = s.get(ctx, it.Key); err != nil {
				return false, err
			}
		}
		if _, live := s.session(ctx, user, it, s.now()); !live {
			return false, nil
		}
		err := s.expireItem(ctx, it)
		switch {
		case err == nil:
			return true, nil
		case !lostRace(err):
			return false, err
		}
	}
	return false, s.errConflict("delete user")
}

// expireItem ends the item it was read as, unless it changed since: a
// compare-and-swap to an empty value that expires at once.
func (s *Store) expireItem(ctx context.Context, it *memcache.Item) error {
	gone := &memcache.Item{Key: it.Key, CasID: it.CasID, Expiration: expired}
	return s.call(ctx, func() error { return s.client.CompareAndSwap(gone) })
}

// wrap prefixes err with the package and the operation, and keeps nil nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("memcachestore: %s: %w", op, err)
}
