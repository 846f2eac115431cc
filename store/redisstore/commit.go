package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/tether-go/tether/store"
)

// Commit implements [store.Store] with one script that checks the mode, the
// size limit and tombstones and applies the change and the expiry in one
// atomic step, publishing the ID on the invalidation channel in the same step.
//
// The user index lives under another key (another hash slot in a Cluster), so
// it is updated by separate commands: the new user's index before the script,
// the old user's after it. A crash in between leaves an index entry too many,
// which readers skip and clean up, never a session missing from its user's
// index ("log out everywhere" must find it).
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if c.Mode != store.Create && c.Mode != store.Update {
		return store.Result{}, fmt.Errorf("redisstore: unknown commit mode %s", c.Mode)
	}
	if c.Mode == store.Create {
		c.SetUserID = true // "Create always sets UserID"
	}
	// A change that alone exceeds the limit is refused without a round trip.
	size := 0
	for k, v := range c.Set {
		size += len(k) + len(v)
	}
	if c.SetUserID {
		size += len(c.UserID)
	}
	if size > s.cfg.maxRecordSize {
		return store.Result{}, &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize}
	}

	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return store.Result{}, err
	}
	defer cancel()

	// Index first (see above). A record whose new expiry has passed already
	// needs no entry; one that keeps its expiry (zero) may still be live.
	if c.SetUserID && c.UserID != "" && (c.Expires.IsZero() || time.Now().Before(c.Expires)) {
		if err := s.indexAdd(ctx, c.UserID, id); err != nil {
			return store.Result{}, err
		}
	}

	reply, err := commitScript.Run(ctx, s.client, []string{s.sessionKey(id)}, commitArgs(s, id, &c)...).Slice()
	if err != nil {
		return store.Result{}, s.wrap(ctx, "commit", err)
	}
	version, oldUser, err := s.outcome("commit", reply)
	if err != nil {
		return store.Result{}, err
	}
	if c.SetUserID && oldUser != c.UserID {
		s.unindex(ctx, oldUser, id)
	}
	return store.Result{Version: version}, nil
}

// commitArgs builds the commit script's ARGV. Keys both deleted and set are
// only set (Set applies after Delete), duplicates are dropped, and a Clear
// makes the deletions moot.
func commitArgs(s *Store, id string, c *store.Change) []any {
	var dels []string
	if !c.Clear && len(c.Delete) > 0 {
		seen := make(map[string]struct{}, len(c.Delete))
		for _, k := range c.Delete {
			if _, set := c.Set[k]; set {
				continue
			}
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				dels = append(dels, k)
			}
		}
	}
	mode, clear, setUser := "u", "0", "0"
	if c.Mode == store.Create {
		mode = "c"
	}
	if c.Clear {
		clear = "1"
	}
	if c.SetUserID {
		setUser = "1"
	}
	expires, pexpire := "", ""
	if c.Mode == store.Create || !c.Expires.IsZero() {
		expires, pexpire = encodeTime(c.Expires), expireAt(c.Expires)
	}
	args := make([]any, 0, 12+len(dels)+2*len(c.Set))
	args = append(args, mode, s.cfg.publish, id, clear, setUser, c.UserID,
		encodeTime(c.Created), encodeTime(c.LastSeen), expires, pexpire,
		strconv.Itoa(s.cfg.maxRecordSize), strconv.Itoa(len(dels)))
	for _, k := range dels {
		args = append(args, k)
	}
	for k, v := range c.Set {
		args = append(args, k, v)
	}
	return args
}

// outcome maps a script's reply to the store's errors, and returns the new
// version and the old user id it reports on success.
func (s *Store) outcome(op string, reply []any) (version uint64, oldUser string, err error) {
	code, _ := at[int64](reply, 0)
	switch code {
	case codeOK:
		v, ok := at[int64](reply, 1)
		if !ok || v <= 0 {
			return 0, "", fmt.Errorf("redisstore: %s: unexpected reply %v", op, reply)
		}
		oldUser, _ = at[string](reply, 2)
		return uint64(v), oldUser, nil
	case codeNotFound:
		return 0, "", store.ErrNotFound
	case codeMoved:
		to, _ := at[string](reply, 1)
		sealed, _ := at[string](reply, 2)
		return 0, "", &store.MovedError{Moved: store.Moved{To: to, Sealed: []byte(sealed)}}
	case codeExists:
		return 0, "", store.ErrExists
	case codeTooLarge:
		size, _ := at[int64](reply, 1)
		return 0, "", &store.TooLargeError{Size: int(size), Limit: s.cfg.maxRecordSize}
	case codeConflict:
		return 0, "", store.ErrConflict
	}
	return 0, "", fmt.Errorf("redisstore: %s: unexpected reply %v", op, reply)
}

// at returns reply[i] as a T, if it is one.
func at[T any](reply []any, i int) (T, bool) {
	var zero T
	if i >= len(reply) {
		return zero, false
	}
	v, ok := reply[i].(T)
	return v, ok
}

// Touch implements [store.Store] with one script that refuses missing records
// and tombstones and sets the times, the version and the expiry.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	reply, err := touchScript.Run(ctx, s.client, []string{s.sessionKey(id)},
		s.cfg.publish, id, encodeTime(lastSeen), encodeTime(expires), expireAt(expires)).Slice()
	if err != nil {
		return s.wrap(ctx, "touch", err)
	}
	_, _, err = s.outcome("touch", reply)
	return err
}

// Move implements [store.Store] with one script that checks the version and
// replaces the record by a tombstone; the old user's index entry goes after.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	reply, err := moveScript.Run(ctx, s.client, []string{s.sessionKey(id)},
		s.cfg.publish, id, strconv.FormatUint(ifVersion, 10), m.To, m.Sealed,
		encodeTime(expires), expireAt(expires)).Slice()
	if err != nil {
		return s.wrap(ctx, "move", err)
	}
	_, oldUser, err := s.outcome("move", reply)
	if err != nil {
		return err
	}
	s.unindex(ctx, oldUser, id)
	return nil
}

// Delete implements [store.Store]: one script deletes the record and
// publishes the change, then its user's index entry goes.
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	user, err := deleteScript.Run(ctx, s.client, []string{s.sessionKey(id)}, s.cfg.publish, id).Text()
	if err != nil {
		return s.wrap(ctx, "delete", err)
	}
	s.unindex(ctx, user, id)
	return nil
}

// unindex removes id from user's index after a write took the session away
// from user. The write has happened, so a failure here is not the caller's:
// the entry left behind is one that readers skip and remove anyway.
func (s *Store) unindex(ctx context.Context, user, id string) {
	if user == "" {
		return
	}
	if err := s.client.ZRem(ctx, s.userKey(user), id).Err(); err != nil {
		s.cfg.logger.Debug("redisstore: removing a user index entry failed; it will be cleaned up later", "err", err)
	}
}
