package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tether-go/tether/store"
)

// maxAttempts bounds how often a write that found no row to change is
// retried because the row, read again, looks writable after all. That takes
// a race: the write's snapshot predates a concurrent Create of the ID, or a
// concurrent commit shrank a record the write found too large. Past the
// bound the write reports store.ErrConflict.
const maxAttempts = 3

// Commit implements [store.Store] in one statement: an INSERT ... ON CONFLICT
// for Create, an UPDATE of the row for Update, each with its pg_notify. The
// statement applies the delta to the stored values under the row lock the
// UPDATE takes, so concurrent commits of different keys all survive, and no
// read-modify-write crosses the network.
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return store.Result{}, err
	}
	defer cancel()
	switch c.Mode {
	case store.Create:
		return s.create(ctx, id, &c)
	case store.Update:
		return s.update(ctx, id, &c)
	}
	return store.Result{}, fmt.Errorf("pgstore: unknown commit mode %v", c.Mode)
}

func (s *Store) create(ctx context.Context, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, errInvalidID
	}
	// Create starts from nothing: Clear and Delete have nothing to act on,
	// and the record's values are exactly Set, whose size is known here.
	if size := storedLen(c.Set); size > s.cfg.maxRecordBytes {
		return store.Result{}, &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordBytes}
	}
	vals := string(appendValues(make([]byte, 0, encodedLen(c.Set)), c.Set))
	var version int64
	err := s.pool.QueryRow(ctx, s.q.create, id, s.now(), vals, c.UserID, c.Created, c.LastSeen, c.Expires, s.n.channel).
		Scan(&version, nil)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Result{}, store.ErrExists
	case err != nil:
		return store.Result{}, wrap("create", err)
	}
	return store.Result{Version: uint64(version)}, nil
}

func (s *Store) update(ctx context.Context, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, store.ErrNotFound
	}
	// The values Set adds all end up in the record: if they alone exceed
	// the limit, the result does, and no round trip is needed to say so.
	// Otherwise the statement measures the result.
	var limit any
	if len(c.Set) > 0 {
		if size := storedLen(c.Set); size > s.cfg.maxRecordBytes {
			return store.Result{}, &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordBytes}
		}
		limit = int64(s.cfg.maxRecordBytes)
	}
	set := string(appendValues(make([]byte, 0, encodedLen(c.Set)), c.Set))
	del := c.Delete
	if del == nil {
		del = []string{} // NULL would make vals - NULL NULL
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		var version int64
		err := s.pool.QueryRow(ctx, s.q.update, id, now, c.Clear, del, set,
			c.SetUserID, c.UserID, optTime(c.LastSeen), optTime(c.Expires), limit, s.n.channel).
			Scan(&version, nil)
		if err == nil {
			return store.Result{Version: uint64(version)}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Result{}, wrap("commit", err)
		}
		// No row changed: missing, expired, a tombstone, or too large.
		var st rowState
		var size *int64
		err = s.pool.QueryRow(ctx, s.q.updateState, id, now, c.Clear, del, set).
			Scan(&st.version, &st.movedTo, &st.sealed, &size)
		if err = st.outcome(err); err != nil {
			return store.Result{}, wrapOutcome("commit", err)
		}
		if limit != nil && size != nil && *size > int64(s.cfg.maxRecordBytes) {
			return store.Result{}, &store.TooLargeError{Size: int(*size), Limit: s.cfg.maxRecordBytes}
		}
		if attempt == maxAttempts {
			return store.Result{}, store.ErrConflict
		}
	}
}

// optTime passes a zero time as NULL: an Update that leaves LastSeen or
// Expires zero keeps the stored one.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// Touch implements [store.Store].
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return store.ErrNotFound
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		err := s.pool.QueryRow(ctx, s.q.touch, id, now, lastSeen, expires, s.n.channel).Scan(nil, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return wrap("touch", err)
		}
		if err := s.why(ctx, "touch", id, now); err != nil {
			return err
		}
		if attempt == maxAttempts {
			return store.ErrConflict
		}
	}
}

// Move implements [store.Store]. The tombstone keeps the record's Created and
// LastSeen, drops its values and user id, and takes the next version.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return store.ErrNotFound
	}
	if !validID(m.To) {
		return fmt.Errorf("pgstore: move: %w", errInvalidID)
	}
	// A version past int64 cannot be stored, so it cannot match.
	want := int64(ifVersion)
	if want < 0 {
		want = 0
	}
	for attempt := 1; ; attempt++ {
		now := s.now()
		err := s.pool.QueryRow(ctx, s.q.move, id, now, m.To, m.Sealed, expires, want, s.n.channel).Scan(nil, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return wrap("move", err)
		}
		var st rowState
		err = s.pool.QueryRow(ctx, s.q.state, id, now).Scan(&st.version, &st.movedTo, &st.sealed)
		if err = st.outcome(err); err != nil {
			return wrapOutcome("move", err)
		}
		if uint64(st.version) != ifVersion {
			return store.ErrConflict
		}
		if attempt == maxAttempts {
			return store.ErrConflict
		}
	}
}

// why explains, with a fresh read, why a write to id changed nothing. It
// returns nil if the row looks writable (the caller retries).
func (s *Store) why(ctx context.Context, op, id string, now time.Time) error {
	var st rowState
	err := s.pool.QueryRow(ctx, s.q.state, id, now).Scan(&st.version, &st.movedTo, &st.sealed)
	return wrapOutcome(op, st.outcome(err))
}

// rowState is a row as the state queries read it.
type rowState struct {
	version int64
	movedTo *string
	sealed  []byte
}

// outcome turns the state query's result into the contract's error: nil if
// the row is live and not a tombstone.
func (st *rowState) outcome(err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case st.movedTo != nil:
		return &store.MovedError{Moved: store.Moved{To: *st.movedTo, Sealed: st.sealed}}
	}
	return nil
}

// wrap2 wraps system errors and passes the contract's outcomes as they are.
func wrapOutcome(op string, err error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, ok := store.IsMoved(err); ok {
		return err
	}
	return wrap(op, err)
}
