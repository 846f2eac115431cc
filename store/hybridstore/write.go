package hybridstore

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/tether-go/tether/store"
)

// Writes go to the remote first. Only then, under the ID's stripe lock, is the
// local entry updated — and only when the result can be made exactly equal to
// what the remote now holds. The test for "exactly" is the version chain: the
// remote reports the version its commit produced, and a local entry at the
// version just below it is the state the commit was applied to. Anything else
// — an error, a write whose resulting version is unknown (Touch, Move), an
// entry at another version — evicts, which is always safe.

// Commit implements [store.Store]: the remote commit first, then the local
// entry. On success the local entry is updated in place of a reload if it was
// the state the commit applied to (its version is the result's minus one), or
// created for a Create; otherwise, and on any error, it is evicted. So the
// local entry is never ahead of the remote, nor different from it.
//
// With [WithStaleIfError], an entry whose commit failed for a reason other
// than a typed outcome (the remote being unreachable, say) is kept for
// degraded reads only, never served as fresh again.
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := ctx.Err(); err != nil {
		return store.Result{}, err // nothing reached the remote: nothing to evict
	}
	st := s.stripe(id)
	notify := s.modeNow() == modeNotify
	skip := notify && s.cfg.echoSkip
	st.mu.Lock()
	seq, epoch0 := st.changes, s.epoch.Load()
	var chain uint64 // the chain our expected echo was counted on, if any
	var mark *createMark
	switch {
	case skip && c.Mode == store.Update:
		chain = s.expectEchoLocked(st, id)
	case skip && c.Mode == store.Create:
		if mark = st.creating[id]; mark == nil {
			mark = &createMark{}
			if st.creating == nil {
				st.creating = make(map[string]*createMark)
			}
			st.creating[id] = mark
		}
		mark.n++
	}
	st.mu.Unlock()

	start := s.cfg.now()
	res, err := s.remote.Commit(ctx, id, c)

	st.mu.Lock()
	defer st.mu.Unlock()
	unchanged := st.changes == seq
	st.changes++
	echoed := false
	if mark != nil {
		echoed = mark.echoed
		if mark.n--; mark.n == 0 {
			delete(st.creating, id)
		}
	}
	s.dropFlightLocked(st, id)
	if err != nil {
		s.remoteError(ctx, err)
		s.failedLocked(st, id, err, true)
		return res, fmt.Errorf("hybridstore: commit: %w", err)
	}
	if !s.usable.Load() || (notify && !s.cfg.echoSkip) {
		s.cache.Invalidate(id)
		return res, nil
	}
	epoch := s.epoch.Load()
	prec := time.Duration(s.precision.Load())
	now := s.cfg.now()
	var next *entry
	switch {
	case prec == 0:
		// We do not know yet how the remote keeps times.
	case c.Mode == store.Create:
		// No entry existed to count the create's own notification on. The
		// first notification for the ID since the create began was taken
		// for it (echoed); any other change on the stripe, or a gap in the
		// notifications, meanwhile evicts.
		if res.Version == 1 && unchanged && epoch == epoch0 {
			next = &entry{rec: created(&c, prec), chain: s.chains.Add(1)}
			if notify && !echoed {
				next.echoes = 1
			}
		}
	case c.Mode == store.Update:
		cur, _ := s.cache.GetIfPresent(id)
		if cur == nil || cur.epoch != epoch || cur.rec.Moved != nil || res.Before() != cur.rec.Version {
			break
		}
		next = &entry{rec: updated(&cur.rec, &c, res.Version, prec), chain: cur.chain, echoes: cur.echoes, writing: cur.writing}
		switch {
		case chain != 0 && cur.chain == chain:
			next.writing-- // our echo was counted before the remote call
		case notify:
			// Our echo was counted on an entry since evicted, or not
			// at all; this entry, at the version our commit applied
			// to, must still be waiting for it (see notify.go).
			next.echoes++
		}
	}
	if next == nil || !next.rec.Live(now) {
		s.cache.Invalidate(id)
		return res, nil
	}
	next.confirmed, next.epoch = start, epoch
	if next.echoes > 0 {
		next.echoDeadline = now.Add(echoWait)
	}
	s.cache.Set(id, next)
	return res, nil
}

// expectEchoLocked counts, on id's entry, the notification of an update about
// to be sent, so that it is absorbed even if it arrives before the remote's
// reply; and marks the entry as being written, so that it is neither served
// nor replaced by a load until the write is done. It returns the entry's
// chain, 0 if there is no entry. The caller holds st.mu.
func (s *Store) expectEchoLocked(st *stripe, id string) uint64 {
	s.dropFlightLocked(st, id)
	cur, _ := s.cache.GetIfPresent(id)
	if cur == nil || cur.epoch != s.epoch.Load() {
		return 0
	}
	next := *cur
	next.echoes++
	next.writing++
	s.cache.Set(id, &next)
	return cur.chain
}

// created is the record a Create makes, built from c without retaining it,
// with times as the remote keeps them (to prec).
func created(c *store.Change, prec time.Duration) store.Record {
	return store.Record{
		Values:   c.Apply(store.Values{}),
		UserID:   c.UserID,
		Created:  truncate(c.Created, prec),
		LastSeen: truncate(c.LastSeen, prec),
		Expires:  truncate(c.Expires, prec),
		Version:  1,
		Attrs:    cloneAttrs(c.Attrs), // "Create always sets Attrs"
	}
}

// updated is old with c applied, at version v, with times as the remote keeps
// them (to prec). old is not modified.
func updated(old *store.Record, c *store.Change, v uint64, prec time.Duration) store.Record {
	rec := store.Record{
		Values:   c.Apply(old.Values),
		UserID:   old.UserID,
		Created:  old.Created,
		LastSeen: old.LastSeen,
		Expires:  old.Expires,
		Version:  v,
		Attrs:    old.Attrs, // shared: nobody modifies a record's attributes
	}
	if c.SetUserID {
		rec.UserID = c.UserID
	}
	if c.SetAttrs {
		rec.Attrs = cloneAttrs(c.Attrs)
	}
	// An update may leave either time zero to keep the stored one.
	if !c.LastSeen.IsZero() {
		rec.LastSeen = truncate(c.LastSeen, prec)
	}
	if !c.Expires.IsZero() {
		rec.Expires = truncate(c.Expires, prec)
	}
	return rec
}

// cloneAttrs copies a change's attributes, which Commit must not retain; nil
// for none, as the remote returns no attributes.
func cloneAttrs(attrs map[string]string) map[string]string {
	if len(attrs) == 0 {
		return nil
	}
	return maps.Clone(attrs)
}

// Touch implements [store.Store]. The remote does not say which version the
// touch produced, so the local entry is evicted either way: the next read
// loads it again (a touch happens at most once per the session manager's
// touch interval).
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.remote.Touch(ctx, id, lastSeen, expires)
	s.afterWrite(ctx, id, err, true)
	if err != nil {
		return fmt.Errorf("hybridstore: touch: %w", err)
	}
	return nil
}

// Move implements [store.Store]; the local entry is evicted either way (a
// tombstone's version is the remote's to choose).
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.remote.Move(ctx, id, m, expires, ifVersion)
	s.afterWrite(ctx, id, err, false)
	if err != nil {
		return fmt.Errorf("hybridstore: move: %w", err)
	}
	return nil
}

// Delete implements [store.Store]; the local entry is evicted either way.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.remote.Delete(ctx, id)
	s.afterWrite(ctx, id, err, false)
	if err != nil {
		return fmt.Errorf("hybridstore: delete: %w", err)
	}
	return nil
}

// afterWrite evicts id after a write whose resulting state is not known
// locally. keepStale says whether a failed write may leave the entry for
// degraded reads (a Touch, whose failure loses nothing of the record's data).
func (s *Store) afterWrite(ctx context.Context, id string, err error, keepStale bool) {
	st := s.stripe(id)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.changes++
	if err != nil {
		s.remoteError(ctx, err)
		s.failedLocked(st, id, err, keepStale)
		return
	}
	s.evictLocked(st, id)
}

// failedLocked handles the local entry of a failed write: it may or may not
// have been applied remotely, so the entry can no longer be served as fresh.
// In degraded mode an entry of a write that failed for a system fault (not a
// typed outcome, which says the entry is wrong) is kept for degraded reads.
func (s *Store) failedLocked(st *stripe, id string, err error, keepStale bool) {
	s.dropFlightLocked(st, id)
	if keepStale && s.cfg.staleIfError > 0 && !isOutcome(err) {
		if cur, _ := s.cache.GetIfPresent(id); cur != nil {
			demoted := *cur
			demoted.epoch = 0
			s.cache.Set(id, &demoted)
			return
		}
	}
	s.cache.Invalidate(id)
}

// dropFlightLocked marks a load of id in flight as stale: it began before
// the change, so it must not fill the cache, and later loads must not share
// it.
func (s *Store) dropFlightLocked(st *stripe, id string) {
	if f := st.flights[id]; f != nil {
		f.stale = true
		delete(st.flights, id)
	}
}

// UserSessions implements [store.Store] by asking the remote: the local
// cache has no user index.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	infos, err := s.remote.UserSessions(ctx, userID)
	if err != nil {
		s.remoteError(ctx, err)
		return nil, fmt.Errorf("hybridstore: user sessions: %w", err)
	}
	return infos, nil
}

// DeleteUser implements [store.Store]: the remote ends the user's sessions
// (each becomes a tombstone that forwards nothing), then every local entry of
// the user is evicted, and every load in flight is kept from filling the
// cache, so no read on this node returns one of the ended sessions live after
// DeleteUser returns. It evicts on failure too: some sessions may have ended.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.remote.DeleteUser(ctx, userID)
	if err != nil {
		s.remoteError(ctx, err)
	}
	if userID != "" {
		s.evictUser(userID)
	}
	if err != nil {
		return n, fmt.Errorf("hybridstore: delete user: %w", err)
	}
	return n, nil
}

// evictUser evicts the entries of userID. Loads in flight are marked stale
// first, on every stripe (we do not know their users), and every stripe's
// change counter moves, so a write racing this one does not put back a
// session the remote just ended.
func (s *Store) evictUser(userID string) {
	for i := range s.stripes {
		st := &s.stripes[i]
		st.mu.Lock()
		st.changes++
		for id, f := range st.flights {
			f.stale = true
			delete(st.flights, id)
		}
		st.mu.Unlock()
	}
	var ids []string
	for id, e := range s.cache.All() {
		if e.rec.UserID == userID {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		s.evict(id)
	}
}
