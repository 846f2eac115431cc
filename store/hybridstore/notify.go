package hybridstore

import (
	"context"
	"errors"
	"time"

	"github.com/tether-go/tether/store"
)

// Backoff before calling Notify again when it returned on its own (the remote
// store was closed, or cannot subscribe at all).
const (
	renotifyMinBackoff = 100 * time.Millisecond
	renotifyMaxBackoff = 5 * time.Second
)

// listen runs the remote's Notify until ctx ends, then closes s.done. Notify
// reconnects by itself; should it return anyway, the cache is bypassed until
// a later call delivers a Reset. If it returns store.ErrUnsupported, the
// store falls back to version checks or the local TTL, as for a remote that
// is no Notifier, and listen returns.
func (s *Store) listen(ctx context.Context) {
	defer close(s.done)
	backoff := renotifyMinBackoff
	for {
		err := s.notifier.Notify(ctx, s.onEvent)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, store.ErrUnsupported) {
			// A Notifier that cannot notify (pgstore with notifications
			// off): keep entries fresh as for a remote without Notify.
			s.onEvent(store.Event{Lost: true})
			s.setPollingMode()
			s.epoch.Add(1)
			s.usable.Store(true)
			return
		}
		s.onEvent(store.Event{Lost: true})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, renotifyMaxBackoff)
	}
}

// onEvent handles one notification. Notify calls it from one goroutine at a
// time; it takes one stripe lock at most, or flushes, and never blocks on the
// network.
//
// Ignoring our own writes. A write applied to the local entry (see Commit)
// would be evicted by its own notification, its "echo", and the next read
// would cost a load. So each applied write counts one expected echo on the
// entry, and an event that finds a count absorbs it instead of evicting. An
// update counts its echo before its remote call (the echo often arrives
// before the remote's reply) and marks the entry as being written, which is
// then neither served nor replaced by a load until the update is done; if
// that entry was evicted meanwhile, the update counts its echo on the entry
// it applies to. A create has no entry to count on: it marks its ID on the
// stripe, the first event for the ID is taken for its echo, and it makes its
// entry only if nothing else happened on the stripe meanwhile, counting the
// echo if it has not come yet.
//
// Why this never serves a stale entry. Backends announce the writes of one
// record in the order they make them (Redis publishes from the script that
// writes, on the one node that holds the record; Postgres delivers
// notifications in commit order). A served entry at version u descends, by
// writes applied through this node, from a load or a create at version b, and
// carries one count per write b+1..u and none of writes in flight (it would
// not be served). When the event of any write past u arrives, the events of
// b+1..u have all arrived before it, and each absorbed a count or evicted
// the entry: no count is left, and the event evicts. A load never starts a
// lineage from a state older than an echo already delivered: the event marks
// loads in flight stale, and a load begun after it reads the newer state.
// Should a backend ever fail to announce a write, an entry still waiting for
// an echo is not served past echoWait (1 s) after its last write.
func (s *Store) onEvent(ev store.Event) {
	switch {
	case ev.Lost:
		// Changes are being missed from now on: nothing cached can be
		// trusted, nor anything loaded, until the next Reset.
		s.usable.Store(false)
		s.epoch.Add(1)
		if s.cfg.staleIfError == 0 {
			s.cache.InvalidateAll()
		}
		s.stats.flushes.Add(1)
	case ev.Reset:
		// Changes may have been missed before now: start empty.
		s.epoch.Add(1)
		s.cache.InvalidateAll()
		s.usable.Store(true)
		s.stats.flushes.Add(1)
	case ev.ID != "":
		s.stats.invalidations.Add(1)
		st := s.stripe(ev.ID)
		st.mu.Lock()
		if m := st.creating[ev.ID]; m != nil && !m.echoed {
			// Taken for the echo of our create in flight; there is no
			// entry of the new record yet (any other is older: evict).
			m.echoed = true
			s.evictLocked(st, ev.ID)
			st.mu.Unlock()
			return
		}
		st.changes++
		s.dropFlightLocked(st, ev.ID)
		if e, _ := s.cache.GetIfPresent(ev.ID); e != nil {
			if e.echoes > 0 && e.epoch == s.epoch.Load() {
				absorbed := *e
				absorbed.echoes--
				s.cache.Set(ev.ID, &absorbed)
			} else {
				s.cache.Invalidate(ev.ID)
			}
		}
		st.mu.Unlock()
	}
}
