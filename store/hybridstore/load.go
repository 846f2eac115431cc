package hybridstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tether-go/tether/store"
)

// flight is one remote load of an ID that concurrent misses of that ID share.
type flight struct {
	done  chan struct{}
	epoch uint64 // the store's epoch when the load began
	// stale is set, under the stripe's lock, when the ID changed (an event,
	// a write through this store) while the load ran: what it read may be
	// older than the change, so it must not fill the cache. The flight is
	// then also removed from the stripe, so later misses start a load of
	// their own instead of sharing one that began before the change.
	stale bool
	// waiters counts the misses that joined the load (for tests).
	waiters int
	// abandoned is set if the leader's context ended during the load: its
	// error is the leader's, not the remote's, and waiters try again.
	abandoned bool

	rec *store.Record
	err error
}

// Load implements [store.Store].
//
// A fresh local entry is returned without a round trip (with a Versioner
// remote and no local TTL, after a version check). Otherwise the record is
// loaded from the remote, once for all concurrent misses of the ID, and
// cached if it exists and nothing changed it while it was read. A missing
// record is never cached: a session created on another node is visible at
// once. With [WithStaleIfError], a remote failure is answered from the local
// entry if it is recent enough.
//
// The returned record is shared with other callers and the cache: it must
// not be modified.
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, _ := s.cache.GetIfPresent(id)
	if e != nil {
		now := s.cfg.now()
		if s.fresh(e, now) {
			if s.modeNow() != modeRevalidate || now.Sub(e.confirmed) < s.cfg.localTTL {
				s.stats.hits.Add(1)
				store.ReportSource(ctx, store.SourceLocal)
				return &e.rec, nil
			}
			ok, err := s.revalidate(ctx, id, e, now)
			switch {
			case ok:
				s.stats.hits.Add(1)
				store.ReportSource(ctx, store.SourceLocal)
				return &e.rec, nil
			case err != nil:
				return s.degrade(ctx, id, fmt.Errorf("hybridstore: revalidate: %w", err))
			}
		}
	}
	s.stats.misses.Add(1)
	for {
		rec, err, again := s.loadShared(ctx, id)
		if again {
			continue
		}
		if err != nil {
			return s.degrade(ctx, id, fmt.Errorf("hybridstore: load: %w", err))
		}
		store.ReportSource(ctx, store.SourceRemote)
		return rec, nil
	}
}

// revalidate asks a Versioner remote whether e is still the stored record.
// A match renews the entry's confirmation; a mismatch evicts it.
func (s *Store) revalidate(ctx context.Context, id string, e *entry, now time.Time) (bool, error) {
	s.stats.revalidations.Add(1)
	v, err := s.versioner.Version(ctx, id)
	if err != nil {
		s.remoteError(ctx, err)
		return false, err
	}
	st := s.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	cur, _ := s.cache.GetIfPresent(id)
	if v != e.rec.Version {
		if cur == e {
			s.cache.Invalidate(id)
		}
		return false, nil
	}
	if cur == e {
		renewed := *e
		renewed.confirmed = now
		s.cache.Set(id, &renewed)
	}
	return true, nil
}

// loadShared loads id from the remote, or waits for the load of id already in
// flight. again is true if the load it waited for failed because its leader's
// context ended: the caller, whose context is alive, tries again.
func (s *Store) loadShared(ctx context.Context, id string) (rec *store.Record, err error, again bool) {
	st := s.stripe(id)
	st.mu.Lock()
	if f := st.flights[id]; f != nil {
		f.waiters++
		st.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err(), false
		}
		if f.abandoned && ctx.Err() == nil {
			return nil, nil, true
		}
		return f.rec, f.err, false
	}
	f := &flight{done: make(chan struct{}), epoch: s.epoch.Load()}
	if st.flights == nil {
		st.flights = make(map[string]*flight)
	}
	st.flights[id] = f
	st.mu.Unlock()

	start := s.cfg.now()
	s.stats.loads.Add(1)
	f.rec, f.err = s.remote.Load(ctx, id)
	if f.err != nil {
		f.abandoned = ctx.Err() != nil
		s.remoteError(ctx, f.err)
	} else if f.rec != nil {
		s.observe(f.rec)
	}

	st.mu.Lock()
	if st.flights[id] == f {
		delete(st.flights, id)
	}
	switch {
	case f.err != nil || f.stale:
	case f.rec == nil || !f.rec.Live(s.cfg.now()):
		// Gone: drop what we had, so degraded mode cannot bring it back.
		s.cache.Invalidate(id)
	case f.epoch == s.epoch.Load() && s.usable.Load():
		if cur, _ := s.cache.GetIfPresent(id); cur != nil && cur.writing > 0 && cur.epoch == f.epoch {
			break // a write through this node owns the entry for now
		}
		s.cache.Set(id, &entry{rec: *f.rec, confirmed: start, epoch: f.epoch, chain: s.chains.Add(1)})
	case s.cfg.staleIfError > 0 && !s.closed.Load():
		// Notifications are down (or were, while we read): the record may
		// not be served as fresh, but it is the latest the remote told us,
		// which is what degraded mode serves if the remote fails next.
		s.cache.Set(id, &entry{rec: *f.rec, confirmed: start})
	}
	st.mu.Unlock()
	close(f.done)
	return f.rec, f.err, false
}

// degrade answers a failed remote read: from the local entry if degraded mode
// allows it, with err otherwise. A read the caller cancelled is not answered
// from the cache; one whose deadline passed is, since a remote that does not
// answer in time is what degraded mode is for (a hung server rather than a
// refused connection).
func (s *Store) degrade(ctx context.Context, id string, err error) (*store.Record, error) {
	if cancelled(ctx) {
		return nil, err
	}
	if s.cfg.staleIfError > 0 {
		if e, _ := s.cache.GetIfPresent(id); e != nil && s.stale(e, s.cfg.now()) {
			s.stats.staleServes.Add(1)
			store.ReportSource(ctx, store.SourceLocal)
			return &e.rec, nil
		}
	}
	return nil, err
}

// remoteError counts a failed remote call, unless the caller cancelled it or
// it is a typed outcome. A call that ran out of the caller's time counts: the
// remote did not answer in time.
func (s *Store) remoteError(ctx context.Context, err error) {
	if !cancelled(ctx) && !isOutcome(err) {
		s.stats.remoteErrors.Add(1)
	}
}

// cancelled reports whether the caller cancelled ctx (as opposed to its
// deadline passing).
func cancelled(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// isOutcome reports whether err is one of the contract's typed outcomes of a
// write, which say what the remote's state is rather than that it failed.
func isOutcome(err error) bool {
	if _, ok := store.IsMoved(err); ok {
		return true
	}
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
		errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrTooLarge)
}
