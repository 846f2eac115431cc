package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tether-go/tether/internal/attrcodec"
	"github.com/tether-go/tether/internal/versionstep"
	"github.com/tether-go/tether/store"
)

// optAttrs passes no attributes as NULL.
func optAttrs(attrs map[string]string) any {
	if len(attrs) == 0 {
		return nil
	}
	return attrcodec.Encode(attrs)
}

// MaxUserIDLen is the longest user id, in bytes, the store accepts (the
// user_id column's width). A commit that sets a longer one is refused with
// an error matching [store.ErrTooLarge] and changes nothing; UserSessions
// and DeleteUser of one find nothing.
const MaxUserIDLen = 1024

// Commit implements [store.Store] in one short READ COMMITTED transaction:
// lock the record's row, apply the delta to the value rows (only the keys
// the change names), write the row, check the size and the deadline, commit.
// No read-modify-write of the values crosses the network, and concurrent
// commits of different keys of one session all survive: the row lock
// serialises them.
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
	return store.Result{}, fmt.Errorf("mysqlstore: unknown commit mode %v", c.Mode)
}

// maxAttrsOverhead bounds what the attributes' encoding adds to their size
// (the header and the lengths): a row, attributes and one value included,
// then fits in max_allowed_packet with packetSlack to spare, as Load reads it
// and as a write sends it. It takes over a thousand attributes to reach.
const maxAttrsOverhead = 4 << 10

// checkChange refuses, before any round trip, what the tables cannot hold or
// the limit refuses whatever the stored record: a long user id or key, too
// many attributes, or added values, user id and attributes that alone exceed
// the limit.
func (s *Store) checkChange(c *store.Change, setUser, setAttrs bool) error {
	size := 0
	for k, v := range c.Set {
		if len(k) > maxKeyLen {
			return fmt.Errorf("mysqlstore: value key of %d bytes, longer than %d: %w", len(k), maxKeyLen, store.ErrTooLarge)
		}
		size += len(k) + len(v)
	}
	if setUser {
		if len(c.UserID) > MaxUserIDLen {
			return fmt.Errorf("mysqlstore: user id of %d bytes, longer than %d: %w", len(c.UserID), MaxUserIDLen, store.ErrTooLarge)
		}
		size += len(c.UserID)
	}
	if setAttrs {
		n := attrcodec.Size(c.Attrs)
		if over := attrcodec.EncodedLen(c.Attrs) - n; over > maxAttrsOverhead {
			return fmt.Errorf("mysqlstore: %d attributes, whose encoding adds %d bytes, more than %d: %w", len(c.Attrs), over, maxAttrsOverhead, store.ErrTooLarge)
		}
		size += n
	}
	if size > s.cfg.maxRecordSize {
		return &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize}
	}
	return nil
}

// row is a record's row as lockRow reads it.
type row struct {
	userID  []byte
	expires int64
	version uint64
	movedTo []byte
	sealed  []byte
}

// lock reads and locks id's row; found is false if there is none.
func (s *Store) lock(ctx context.Context, tx *sql.Tx, id string) (r row, found bool, err error) {
	var movedTo sql.NullString
	err = tx.StmtContext(ctx, s.st.lockRow).QueryRowContext(ctx, id).
		Scan(&r.userID, &r.expires, &r.version, &movedTo, &r.sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if movedTo.Valid {
		r.movedTo = []byte(movedTo.String)
	}
	return r, err == nil, err
}

// outcome turns a locked row into the contract's error for a write that
// needs a live record: nil if it is live at now and not a tombstone.
func (r *row) outcome(found bool, now int64) error {
	switch {
	case !found || r.expires <= now:
		return store.ErrNotFound
	case r.movedTo != nil:
		return &store.MovedError{Moved: store.Moved{To: string(r.movedTo), Sealed: r.sealed}}
	}
	return nil
}

// finish is a transaction's last statement before COMMIT, on a row the
// transaction wrote: it refuses the write if the server's clock has passed
// the deadline, and, if limit, if the record exceeds the size limit. It
// returns the record's version.
func (s *Store) finish(ctx context.Context, tx *sql.Tx, id string, dl any, limit bool) (uint64, error) {
	var version uint64
	var userLen, size int64
	var late sql.NullBool
	if err := tx.StmtContext(ctx, s.st.final).QueryRowContext(ctx, dl, id).Scan(&version, &userLen, &size, &late); err != nil {
		return 0, err
	}
	if late.Valid && late.Bool {
		return 0, judge(errLate)
	}
	if limit && int(size+userLen) > s.cfg.maxRecordSize {
		return 0, judge(&store.TooLargeError{Size: int(size + userLen), Limit: s.cfg.maxRecordSize})
	}
	return version, nil
}

func (s *Store) create(ctx context.Context, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, errInvalidID
	}
	// Create always sets the attributes.
	if err := s.checkChange(c, true, true); err != nil {
		return store.Result{}, err
	}
	dl := s.deadline(ctx)
	now := s.now()
	attrs := optAttrs(c.Attrs)
	insert := func(tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, s.st.insertRow).ExecContext(ctx, id, optString(c.UserID),
			c.Created.UnixNano(), c.LastSeen.UnixNano(), c.Expires.UnixNano(), attrs)
		return err
	}
	err := s.inTx(ctx, "create", func(tx *sql.Tx) error {
		// The common case, a fresh ID, is one INSERT. A duplicate key
		// undoes that statement only; the transaction then looks at the
		// row that holds the ID.
		err := insert(tx)
		if isDuplicate(err) {
			r, found, lerr := s.lock(ctx, tx, id)
			switch {
			case lerr != nil:
				return lerr
			case found && r.expires > now:
				return judge(store.ErrExists)
			case found:
				// An expired record (or tombstone) is replaced
				// entirely; its values go with it.
				if _, err := tx.StmtContext(ctx, s.st.deleteRow).ExecContext(ctx, id); err != nil {
					return err
				}
			}
			err = insert(tx) // a duplicate again: the transaction is retried
		}
		if err != nil {
			return err
		}
		if err := s.setValues(ctx, tx, id, c.Set); err != nil {
			return err
		}
		_, err = s.finish(ctx, tx, id, dl, false)
		return err
	})
	if err != nil {
		return store.Result{}, err
	}
	return store.Result{Version: 1}, nil
}

// setValues sets the values of set, in as few statements as maxSetBatch
// allows.
func (s *Store) setValues(ctx context.Context, tx *sql.Tx, id string, set map[string][]byte) error {
	args := make([]any, 0, 3*min(len(set), maxSetBatch))
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		p, err := s.st.setValues(ctx, len(args)/3)
		if err != nil {
			return err
		}
		_, err = tx.StmtContext(ctx, p).ExecContext(ctx, args...)
		args = args[:0]
		return err
	}
	for k, v := range set {
		if v == nil {
			v = []byte{} // NOT NULL
		}
		args = append(args, id, k, v)
		if len(args) == 3*maxSetBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (s *Store) update(ctx context.Context, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, store.ErrNotFound
	}
	if err := s.checkChange(c, c.SetUserID, c.SetAttrs); err != nil {
		return store.Result{}, err
	}
	var attrs any
	if c.SetAttrs {
		attrs = optAttrs(c.Attrs)
	}
	dl := s.deadline(ctx)
	now := s.now()
	if live := c.LiveAt.UnixNano(); !c.LiveAt.IsZero() && live > now {
		now = live // the caller's clock runs ahead: it judges too
	}
	var version uint64
	step := versionstep.Next()
	err := s.inTx(ctx, "commit", func(tx *sql.Tx) error {
		// The row first: its UPDATE takes the lock that serialises the
		// record's writes, and applies only to a live session.
		res, err := tx.StmtContext(ctx, s.st.updateRow).ExecContext(ctx, c.SetUserID, optString(c.UserID),
			c.SetAttrs, attrs, optTime(c.LastSeen), optTime(c.Expires), step, id, now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			r, found, err := s.lock(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := r.outcome(found, now); err != nil {
				return judge(err)
			}
			return judge(store.ErrConflict) // cannot happen: the UPDATE saw what the lock sees
		}
		if c.Clear {
			if _, err := tx.StmtContext(ctx, s.st.clearValues).ExecContext(ctx, id); err != nil {
				return err
			}
		} else if len(c.Delete) > 0 {
			del := tx.StmtContext(ctx, s.st.deleteValue)
			for _, k := range c.Delete {
				if _, set := c.Set[k]; set || len(k) > maxKeyLen {
					continue // set below anyway, or never stored
				}
				if _, err := del.ExecContext(ctx, id, k); err != nil {
					return err
				}
			}
		}
		if err := s.setValues(ctx, tx, id, c.Set); err != nil {
			return err
		}
		version, err = s.finish(ctx, tx, id, dl, len(c.Set) > 0 || c.SetUserID || c.SetAttrs && len(c.Attrs) > 0)
		return err
	})
	if err != nil {
		return store.Result{}, err
	}
	return store.Result{Version: version, Prior: version - step}, nil
}

// Touch implements [store.Store] in one UPDATE, which checks the deadline
// once it holds the row's lock.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return store.ErrNotFound
	}
	dl := s.deadline(ctx)
	now := s.now()
	res, err := s.st.touch.ExecContext(ctx, lastSeen.UnixNano(), expires.UnixNano(), versionstep.Next(), id, now, dl, dl)
	if err != nil {
		return s.wrap("touch", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.wrap("touch", err)
	} else if n == 1 {
		return nil
	}
	// Nothing changed: missing, expired, a tombstone, or late.
	var (
		r    row
		mv   sql.NullString
		late sql.NullBool
	)
	err = s.st.state.QueryRowContext(ctx, dl, id).Scan(&r.expires, &r.version, &mv, &r.sealed, &late)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.wrap("touch", err)
	}
	if mv.Valid {
		r.movedTo = []byte(mv.String)
	}
	if err := r.outcome(found, now); err != nil {
		return err
	}
	if late.Valid && late.Bool {
		return errLate
	}
	// Live and writable now: a write that changed it came between.
	return store.ErrConflict
}

// Move implements [store.Store] in one transaction: the tombstone keeps the
// record's Created and LastSeen, drops its values, user id and attributes,
// and takes the next version.
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
		return fmt.Errorf("mysqlstore: move: %w", errInvalidID)
	}
	dl := s.deadline(ctx)
	now := s.now()
	sealed := m.Sealed
	if sealed == nil {
		sealed = []byte{}
	}
	return s.inTx(ctx, "move", func(tx *sql.Tx) error {
		r, found, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		if found && string(r.movedTo) == m.To && r.movedTo != nil {
			return judge(nil) // our own tombstone
		}
		if err := r.outcome(found, now); err != nil {
			return judge(err)
		}
		if ifVersion != 0 && r.version != ifVersion {
			return judge(store.ErrConflict)
		}
		if _, err := tx.StmtContext(ctx, s.st.clearValues).ExecContext(ctx, id); err != nil {
			return err
		}
		_, err = tx.StmtContext(ctx, s.st.moveRow).ExecContext(ctx, []byte(m.To), sealed, expires.UnixNano(), r.version+1, id)
		if err != nil {
			return err
		}
		_, err = s.finish(ctx, tx, id, dl, false)
		return err
	})
}
