package memstore

import "time"

// evict removes records until the store is within its bounds again, sparing
// the record of protect, the ID just written, while it is live. It spares it
// by ID, so that it does not depend on the entry it was written into
// outliving later writes of the ID (a review found that a layout that
// replaced entries on every write let a Touch between the write's unlock and
// its scan expose the session to its own write's eviction). A write of an
// anonymous record (users false) evicts only anonymous and expired records:
// an anonymous flood cannot log anyone out. If the sessions of users alone
// then fill the store, it stays over its bounds by that record until a
// user's write evicts it.
//
// Concurrent writers may evict at the same time, so the store may briefly
// dip a little under its bounds; it does not stay over them once writes
// return, but for the case above.
func (s *Store) evict(protect string, users bool) {
	for s.over() {
		if !s.evictOne(protect, users) {
			return
		}
	}
}

// over reports whether the store holds more than either bound allows.
func (s *Store) over() bool {
	return s.entries.Load() > int64(s.cfg.maxEntries) || s.bytes.Load() > s.cfg.maxBytes
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
// the first of the anonymous heap or of the user heap, other than the
// record of protect unless that record has expired.
// The caller holds sh.mu (read or write).
func candidate(sh *shard, protect string, users bool, now time.Time) (*entry, int) {
	best, rank, at := (*entry)(nil), rankNone, now.UnixMicro()
	for _, user := range [2]bool{false, true} {
		e := sh.heap(user).first(protect, at)
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
// there was none, or if the store is no longer over its bounds. It compares
// every shard's candidate under its read lock, then removes the best one
// under its shard's write lock if it is still that shard's candidate and the
// store still needs the room; if a write came between, it removes nothing
// and reports true, and the caller looks again. (Taking the shard's new
// candidate instead could take a user's session while other shards still
// hold anonymous ones.) The room may have come from a sweep that removed the
// expired records while the scan went on, which left the scan only live
// records to choose from.
func (s *Store) evictOne(protect string, users bool) bool {
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
	if !s.over() {
		best.mu.Unlock()
		return false
	}
	if e, r := candidate(best, protect, users, now); e == chosen && r == bestRank && e.expires == expires {
		s.removeLocked(best, e.id, e)
	}
	best.mu.Unlock()
	return true
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
