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
// Ignoring our own writes: a write applied locally (see Commit) expects its
// own notification and absorbs it instead of evicting the entry it just
// made, so a node that writes a session keeps serving it from memory. This
// is safe because a backend announces the writes of one record in the order
// it made them (Redis publishes from the script that writes, on the one node
// that holds the record; Postgres delivers notifications in commit order), and
// because a write registers an expected echo only if nothing arrived on its
// stripe since before its remote call. An event absorbed in place of ours is
// then one of a write the entry already includes (the entry was at the version
// just below ours, so every earlier write is in it), and ours, arriving
// later, evicts: a wasted reload, never a stale read. A write announced
// after ours arrives after ours, when nothing is left to absorb it. Should a
// backend ever fail to announce a write, an entry still waiting for an echo
// is not served past echoWait (1 s).
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
