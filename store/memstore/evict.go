package memstore

import "time"

// evict removes records until the store is within its bounds again, sparing
// protect (the entry just written). A write of an anonymous
// record (users false) evicts only anonymous and expired records: an
// anonymous flood cannot log anyone out. If the sessions of users alone then
// fill the store, it stays over its bounds by that record until a user's
// write evicts it.
//
// Concurrent writers may evict at the same time, so the store may briefly
// dip a little under its bounds; it does not stay over them once writes
// return, but for the case above.
func (s *Store) evict(protect *entry, users bool) {
	for s.entries.Load() > int64(s.cfg.maxEntries) || s.bytes.Load() > s.cfg.maxBytes {
		if !s.evictOne(protect, users) {
			return
		}
	}
}

// Eviction ranks: expired records go first whatever their class, then
// anonymous ones, then users' (only for a user's write). Within a rank, the
// record closest to expiry goes first.
const (
	rankExpired = iota
	rankAnonymous
	rankUser
	rankNone
)

// candidate returns the entry of sh that eviction would take and its rank:
// the first of the anonymous heap or of the user heap, other than protect.
// The caller holds sh.mu (read or write).
func candidate(sh *shard, protect *entry, users bool, now time.Time) (*entry, int) {
	best, rank, at := (*entry)(nil), rankNone, now.UnixMicro()
	for _, user := range [2]bool{false, true} {
		e := sh.heap(user).first(protect)
		if e == nil {
			continue
		}
		r := rankAnonymous
		switch {
		case at >= e.expires:
			r = rankExpired
		case user && !users:
			continue // an anonymous write never evicts a user's live record
		case user:
			r = rankUser
		}
		if r < rank || (r == rank && e.expires < best.expires) {
			best, rank = e, r
		}
	}
	return best, rank
}

// evictOne removes the best candidate of all shards and reports false if
// there was none. It compares every shard's candidate under its read lock,
// then removes the best one under its shard's write lock if it is still that
// shard's candidate; if a write came between, it removes nothing and reports
// true, and the caller looks again. (Taking the shard's new candidate instead
// could take a user's session while other shards still hold anonymous ones.)
func (s *Store) evictOne(protect *entry, users bool) bool {
	now := s.cfg.now()
	var (
		best     *shard
		chosen   *entry
		bestRank = rankNone
		expires  int64
	)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		if e, r := candidate(sh, protect, users, now); r < bestRank || (r == bestRank && r != rankNone && e.expires < expires) {
			best, chosen, bestRank, expires = sh, e, r, e.expires
		}
		sh.mu.RUnlock()
	}
	if best == nil {
		return false
	}
	if s.afterScan != nil {
		s.afterScan()
	}
	best.mu.Lock()
	if e, r := candidate(best, protect, users, now); e == chosen && r == bestRank && e.expires == expires {
		s.removeLocked(best, e.id, e)
	}
	best.mu.Unlock()
	return true
}

// janitor removes expired records every cleanup interval until Close.
func (s *Store) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.cleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep removes every expired record, one shard at a time. It costs only
// the records it removes: they are at the front of each shard's heap.
func (s *Store) sweep() {
	for i := range s.shards {
		sh := &s.shards[i]
		now := s.cfg.now().UnixMicro()
		sh.mu.Lock()
		for _, user := range [2]bool{false, true} {
			h := sh.heap(user)
			for len(*h) > 0 && now >= (*h)[0].expires {
				e := (*h)[0]
				s.removeLocked(sh, e.id, e)
			}
		}
		sh.mu.Unlock()
	}
}
