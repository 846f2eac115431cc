package memstore

import "time"

// evict removes records until the store is within its bounds again, sparing
// the record under protect (the one just written). Concurrent writers may
// evict at the same time, so the store may briefly dip a little under its
// bounds; it does not stay over them once writes return, unless only the
// protected record is left.
func (s *Store) evict(protect string) {
	for s.entries.Load() > int64(s.cfg.maxEntries) || s.bytes.Load() > s.cfg.maxBytes {
		if !s.evictOne(protect) {
			return
		}
	}
}

// evictOne removes the record closest to expiry (expired ones come first),
// other than protect, and reports false if there was none. It compares the
// first entry of every shard's heap, then removes the best one: a write in
// between may make it evict the runner-up instead, which is as good.
func (s *Store) evictOne(protect string) bool {
	var (
		best    *shard
		expires time.Time
	)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		if e := sh.heap.first(protect); e != nil && (best == nil || e.rec.Expires.Before(expires)) {
			best, expires = sh, e.rec.Expires
		}
		sh.mu.RUnlock()
	}
	if best == nil {
		return false
	}
	best.mu.Lock()
	if e := best.heap.first(protect); e != nil {
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
		now := s.cfg.now()
		sh.mu.Lock()
		for len(sh.heap) > 0 && !sh.heap[0].rec.Live(now) {
			e := sh.heap[0]
			s.removeLocked(sh, e.id, e)
		}
		sh.mu.Unlock()
	}
}
