package memcachestore

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
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

// prune drops from x the entries of sessions that are no longer user's,
// unless they are young, or their session expired by this store's clock
// less than endGrace ago: a node whose clock runs behind may still see it
// live and extend it (see mayBeLive). Best effort: on a read error x is
// left as it was.
func (s *Store) prune(ctx context.Context, user string, x *index) {
	items, err := s.fetchRecords(ctx, slices.Collect(maps.Keys(x.entries)))
	if err != nil {
		s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "prune", "err", err)
		return
	}
	now := s.now()
	for id, added := range x.entries {
		if rec, _ := s.session(ctx, user, items[id], now); now.Unix()-added > indexGrace && !mayBeLive(rec, user, now) {
			delete(x.entries, id)
		}
	}
}

// keepIndexed keeps the index of rec's user, which a commit leaves
// unchanged, able to list id. It extends the index when the record would
// outlive it (hint is the index's deadline, as the record item keeps it),
// and otherwise checks the index at most once per indexCheckEvery: the read
// marks the index as in use in memcached's LRU, as often as the commits mark
// the record, and re-adds the session if memcached evicted the index. It
// returns the index's deadline for the record item to keep.
func (s *Store) keepIndexed(ctx context.Context, rec *store.Record, id string, hint uint32, now time.Time) (uint32, error) {
	if expSeconds(rec.Expires) <= int64(hint) && !s.checks.due(id, now.Unix()) {
		return hint, nil
	}
	hint, _, err := s.ensureIndexed(ctx, rec.UserID, id, rec.Expires, false)
	if err == nil {
		s.indexChecked(id, now)
	}
	return hint, err
}

// indexChecked notes that the index entry of id was just checked.
func (s *Store) indexChecked(id string, now time.Time) { s.checks.done(id, now.Unix()) }

const (
	// indexCheckEvery is how often, at most, a commit reads the index of
	// its session's user. Memcached moves an item up its LRU at most once
	// a minute however often it is read; reading it twice a minute keeps
	// it marked active.
	indexCheckEvery = 30 // seconds

	// indexChecksMax bounds the sessions a store remembers checking; past
	// it, it forgets them all, and their next commits check again.
	indexChecksMax = 1 << 14
)

// indexChecks remembers, per session ID, when this store last checked the
// session's index entry. It is an optimisation: forgetting costs one read.
type indexChecks struct {
	mu   sync.Mutex
	last map[string]int64 // Unix seconds
}

func (c *indexChecks) due(id string, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.last[id]
	return !ok || now-t >= indexCheckEvery || now < t
}

func (c *indexChecks) done(id string, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || len(c.last) >= indexChecksMax {
		c.last = make(map[string]int64)
	}
	c.last[id] = now
}
