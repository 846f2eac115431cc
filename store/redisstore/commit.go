package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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

	reply, err := s.eval(ctx, commitScript, s.commitArgs(id, &c)).Result()
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

// commitArgs builds the commit script's call. Keys both deleted and set are
// only set (Set applies after Delete), duplicates are dropped, and a Clear
// makes the deletions moot.
//
// Arguments are boxed into go-redis' []any, and each conversion of a string,
// a slice or a large integer allocates: so the constant ones are constants or
// boxed once at New, times go as int64 (go-redis formats them into its
// buffer), one boxed expiry serves as both m:e and PEXPIREAT's argument, and
// the "v:" field names share one allocation.
func (s *Store) commitArgs(id string, c *store.Change) []any {
	var dels []string
	if !c.Clear && len(c.Delete) > 0 {
		dels = make([]string, 0, len(c.Delete))
		for _, k := range c.Delete {
			if _, set := c.Set[k]; !set {
				dels = append(dels, k)
			}
		}
		slices.Sort(dels)
		dels = slices.Compact(dels)
	}

	var op any = "u" // any: boxing a string variable would allocate
	switch {
	case c.Mode == store.Create:
		op = "c"
	case c.Clear && c.SetUserID:
		op = "u,clear,user"
	case c.Clear:
		op = "u,clear"
	case c.SetUserID:
		op = "u,user"
	}
	var user any = ""
	if c.SetUserID && c.UserID != "" {
		user = c.UserID
	}

	// The metadata pairs to set, and their letters for ARGV 8.
	var meta [8]any
	n, letters := 0, 0
	if c.Mode == store.Create && !c.Created.IsZero() {
		meta[n], meta[n+1] = "m:c", c.Created.UnixMilli()
		n, letters = n+2, letters|metaC
	}
	if !c.LastSeen.IsZero() {
		meta[n], meta[n+1] = "m:l", c.LastSeen.UnixMilli()
		n, letters = n+2, letters|metaL
	}
	var pexpire any = "" // keeps the expiry
	if c.Mode == store.Create || !c.Expires.IsZero() {
		var expires any
		expires, pexpire = expiryArgs(c.Expires)
		if expires != nil {
			meta[n], meta[n+1] = "m:e", expires
			n, letters = n+2, letters|metaE
		}
	}
	if c.SetUserID && c.UserID != "" {
		meta[n], meta[n+1] = "m:u", user
		n, letters = n+2, letters|metaU
	}

	var names strings.Builder
	size := 0
	for _, k := range dels {
		size += len("v:") + len(k)
	}
	for k := range c.Set {
		size += len("v:") + len(k)
	}
	names.Grow(size)
	field := func(k string) string {
		from := names.Len()
		names.WriteString("v:")
		names.WriteString(k)
		return names.String()[from:]
	}

	args := commitScript.args(s.sessionKey(id), 8+len(dels)+n+2*len(c.Set))
	args = append(args, op, s.cfg.publishArg, id, user, pexpire, s.cfg.limitArg, len(dels), metaLetters[letters])
	for _, k := range dels {
		args = append(args, field(k))
	}
	args = append(args, meta[:n]...)
	for k, v := range c.Set {
		args = append(args, field(k), v)
	}
	return args
}

// The commit script's ARGV 8 has a letter for each metadata pair it gets.
const (
	metaC = 1 << iota // m:c, created
	metaL             // m:l, last seen
	metaE             // m:e, expires
	metaU             // m:u, user id
)

var metaLetters = [16]any{"", "c", "l", "cl", "e", "ce", "le", "cle",
	"u", "cu", "lu", "clu", "eu", "ceu", "leu", "cleu"}

// expiryArgs returns what a script stores as m:e for an expiry at t (nil for
// the zero time, which is not stored) and PEXPIREAT's argument, one boxed
// value for both where they agree. A zero or pre-1970 expiry has passed:
// Redis deletes the key at once, as any store treats a record whose expiry
// has passed as gone.
func expiryArgs(t time.Time) (expires, pexpireAt any) {
	if t.IsZero() {
		return nil, int64(1)
	}
	ms := t.UnixMilli()
	expires = ms
	if ms < 1 {
		return expires, int64(1)
	}
	return expires, expires
}

// timeArg is a time as a script argument: Unix milliseconds, "" for the zero
// time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return ""
	}
	return t.UnixMilli()
}

// outcome maps a script's reply to the store's errors, and returns the new
// version and the old user id it reports on success.
func (s *Store) outcome(op string, res any) (version uint64, oldUser string, err error) {
	if v, ok := res.(int64); ok { // a success reporting only the version
		if v <= 0 {
			return 0, "", fmt.Errorf("redisstore: %s: unexpected reply %v", op, res)
		}
		return uint64(v), "", nil
	}
	reply, _ := res.([]any)
	code, ok := at[int64](reply, 0)
	if !ok {
		return 0, "", fmt.Errorf("redisstore: %s: unexpected reply %v", op, res)
	}
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
	stored, pexpireAt := expiryArgs(expires)
	if stored == nil {
		stored = ""
	}
	args := append(touchScript.args(s.sessionKey(id), 5), s.cfg.publishArg, id, timeArg(lastSeen), stored, pexpireAt)
	reply, err := s.eval(ctx, touchScript, args).Result()
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
	args := append(moveScript.args(s.sessionKey(id), 7), s.cfg.publishArg, id,
		strconv.FormatUint(ifVersion, 10), m.To, m.Sealed, encodeTime(expires), expireAt(expires))
	reply, err := s.eval(ctx, moveScript, args).Result()
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
	user, err := s.eval(ctx, deleteScript, append(deleteScript.args(s.sessionKey(id), 2), s.cfg.publishArg, id)).Text()
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
