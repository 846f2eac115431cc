package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tether-go/tether/internal/attrcodec"

	"github.com/tether-go/tether/internal/versionstep"
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

// setSize is what c.Set adds to a record, as [store.Record.Size] counts it.
func setSize(set map[string][]byte) int {
	n := 0
	for k, v := range set {
		n += len(k) + len(v)
	}
	return n
}

func (s *Store) create(ctx context.Context, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, errInvalidID
	}
	if err := checkUserID(c.UserID); err != nil {
		return store.Result{}, err
	}
	// Create starts from nothing: Clear and Delete have nothing to act on,
	// and the record is exactly Set, the user id and the attributes, whose
	// size is known here.
	if size := setSize(c.Set) + len(c.UserID) + attrcodec.Size(c.Attrs); size > s.cfg.maxRecordSize {
		return store.Result{}, &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize}
	}
	vals := string(appendValues(make([]byte, 0, encodedLen(c.Set)), c.Set))
	args := []any{id, s.now(), vals, encodeUserID(c.UserID), c.Created, c.LastSeen, c.Expires, s.n.channel, deadline(ctx),
		attrcodec.Encode(c.Attrs)} // Create always sets the attributes
	for attempt := 1; ; attempt++ {
		var version int64
		err := s.writeRow(ctx, s.q.create, args, &version, nil)
		if err == nil {
			return store.Result{Version: uint64(version)}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Result{}, wrap("create", err)
		}
		// Nothing inserted: a live row holds the ID, or the deadline
		// passed.
		st, err := s.state(ctx, id, args[1].(time.Time))
		switch {
		case err != nil:
			return store.Result{}, wrap("create", err)
		case st.exists() && *st.live:
			return store.Result{}, store.ErrExists
		case st.late:
			return store.Result{}, errLate
		case attempt == maxAttempts:
			return store.Result{}, store.ErrConflict
		}
	}
}

func (s *Store) update(ctx context.Context, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, store.ErrNotFound
	}
	// The values Set adds, and the user id and attributes it sets, all end
	// up in the record: if they alone exceed the limit, the result does,
	// and no round trip is needed to say so. Otherwise the statement
	// measures the result.
	if c.SetUserID {
		if err := checkUserID(c.UserID); err != nil {
			return store.Result{}, err
		}
	}
	var limit any
	var attrs []byte
	if len(c.Set) > 0 || c.SetUserID || c.SetAttrs && len(c.Attrs) > 0 {
		size := setSize(c.Set)
		if c.SetUserID {
			size += len(c.UserID)
		}
		if c.SetAttrs {
			size += attrcodec.Size(c.Attrs)
		}
		if size > s.cfg.maxRecordSize {
			return store.Result{}, &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize}
		}
		limit = int64(s.cfg.maxRecordSize)
	}
	if c.SetAttrs {
		attrs = attrcodec.Encode(c.Attrs) // nil for none: NULL
	}
	set := string(appendValues(make([]byte, 0, encodedLen(c.Set)), c.Set))
	del := c.Delete
	if del == nil {
		del = []string{} // NULL would make vals - NULL NULL
	}
	userID := encodeUserID(c.UserID)
	for attempt := 1; ; attempt++ {
		now := s.now()
		if c.LiveAt.After(now) {
			now = c.LiveAt // the caller's clock runs ahead: it judges too
		}
		step := versionstep.Next()
		args := []any{id, now, c.Clear, del, set,
			c.SetUserID, userID, optTime(c.LastSeen), optTime(c.Expires), limit, s.n.channel,
			deadline(ctx), int64(len(c.UserID)), c.SetAttrs, attrs, int64(step)}
		var version int64
		err := s.writeRow(ctx, s.q.update, args, &version, nil)
		if err == nil {
			return store.Result{Version: uint64(version), Prior: uint64(version) - step}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Result{}, wrap("commit", err)
		}
		// No row changed: missing, expired, a tombstone, too large, or
		// late.
		var st rowState
		var size *int64
		state := args[:len(args)-1] // the update's arguments but the step
		err = s.pool.QueryRow(ctx, s.q.updateState, state...).
			Scan(&st.late, &st.live, &st.version, &st.movedTo, &st.sealed, &size)
		if err != nil {
			return store.Result{}, wrap("commit", err)
		}
		if err := st.outcome(); err != nil {
			return store.Result{}, err
		}
		if limit != nil && size != nil && *size > int64(s.cfg.maxRecordSize) {
			return store.Result{}, &store.TooLargeError{Size: int(*size), Limit: s.cfg.maxRecordSize}
		}
		if st.late {
			return store.Result{}, errLate
		}
		if attempt == maxAttempts {
			return store.Result{}, store.ErrConflict
		}
	}
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
		err := s.writeRow(ctx, s.q.touch, []any{id, now, lastSeen, expires, s.n.channel, deadline(ctx), int64(versionstep.Next())}, nil, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return wrap("touch", err)
		}
		st, err := s.state(ctx, id, now)
		if err != nil {
			return wrap("touch", err)
		}
		if err := st.outcome(); err != nil {
			return err
		}
		if st.late {
			return errLate
		}
		if attempt == maxAttempts {
			return store.ErrConflict
		}
	}
}

// Move implements [store.Store]. The tombstone keeps the record's Created and
// LastSeen, drops its values, user id and attributes, and takes the next
// version.
//
// A Move that finds a tombstone to m.To, live or expired (but not yet
// reaped), returns nil: m.To is a fresh ID, so that tombstone is this Move's
// own, run before and its reply lost.
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
		err := s.writeRow(ctx, s.q.move, []any{id, now, m.To, m.Sealed, expires, want, s.n.channel, deadline(ctx)}, nil, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return wrap("move", err)
		}
		st, err := s.state(ctx, id, now)
		if err != nil {
			return wrap("move", err)
		}
		if st.movedTo != nil && *st.movedTo == m.To {
			return nil // our own tombstone
		}
		if err := st.outcome(); err != nil {
			return err
		}
		if ifVersion != 0 && uint64(*st.version) != ifVersion {
			return store.ErrConflict
		}
		if st.late {
			return errLate
		}
		if attempt == maxAttempts {
			return store.ErrConflict
		}
	}
}

// state reads why a write to id changed nothing.
func (s *Store) state(ctx context.Context, id string, now time.Time) (rowState, error) {
	var st rowState
	err := s.pool.QueryRow(ctx, s.q.state, id, now, deadline(ctx)).
		Scan(&st.late, &st.live, &st.version, &st.movedTo, &st.sealed)
	return st, err
}

// rowState is a row as the state queries read it: every column but late is
// NULL if there is no row.
type rowState struct {
	late    bool // the database's clock has passed the write's deadline
	live    *bool
	version *int64
	movedTo *string
	sealed  []byte
}

func (st *rowState) exists() bool { return st.live != nil }

// outcome turns the row into the contract's error: nil if the row is live
// and not a tombstone.
func (st *rowState) outcome() error {
	switch {
	case !st.exists() || !*st.live:
		return store.ErrNotFound
	case st.movedTo != nil:
		return &store.MovedError{Moved: store.Moved{To: *st.movedTo, Sealed: st.sealed}}
	}
	return nil
}
