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
	if c.Mode == store.Create {
		c.SetAttrs = true // "Create always sets Attrs"
	}
	var attrs attrsArg
	if c.SetAttrs {
		attrs.field, attrs.size = encodeAttrs(c.Attrs)
		size += attrs.size
	}
	if size > s.cfg.maxRecordSize {
		return store.Result{}, &store.TooLargeError{Size: size, Limit: s.cfg.maxRecordSize}
	}

	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return store.Result{}, err
	}
	defer cancel()

	if err := s.refusal(); err != nil {
		return store.Result{}, fmt.Errorf("redisstore: commit: %w", err)
	}

	// Index first (see above). A record whose new expiry has passed already
	// needs no entry; one that keeps its expiry (zero) may still be live.
	var score any
	if c.SetUserID && c.UserID != "" && (c.Expires.IsZero() || time.Now().Before(c.Expires)) {
		if score, err = s.indexAdd(ctx, c.UserID, id); err != nil {
			return store.Result{}, err
		}
		if s.cfg.afterIndex != nil {
			s.cfg.afterIndex(id)
		}
	}

	reply, err := s.eval(ctx, commitScript, s.commitArgs(ctx, id, &c, attrs, score)).Result()
	if err != nil {
		return store.Result{}, s.wrap(ctx, "commit", err)
	}
	version, old, err := s.outcome("commit", reply)
	if err != nil {
		return store.Result{}, err
	}
	if c.SetUserID && old.user != c.UserID {
		s.unindex(ctx, old, id)
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
//
// score is the session's score in its new user's index (nil when the commit
// indexes nothing), stored as m:us for the removal that will take the entry
// out again. attrs is c's attributes encoded, if c sets them.
func (s *Store) commitArgs(ctx context.Context, id string, c *store.Change, attrs attrsArg, score any) []any {
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

	// The metadata pairs to set; ARGV 8 has a letter per pair.
	var meta [12]any
	n := 0
	if c.Mode == store.Create && !c.Created.IsZero() {
		meta[n], meta[n+1] = "m:c", c.Created.UnixMilli()
		n += 2
	}
	if !c.LastSeen.IsZero() {
		meta[n], meta[n+1] = "m:l", c.LastSeen.UnixMilli()
		n += 2
	}
	var pexpire any = "" // keeps the expiry
	if c.Mode == store.Create || !c.Expires.IsZero() {
		var expires any
		expires, pexpire = expiryArgs(c.Expires)
		if expires != nil {
			meta[n], meta[n+1] = "m:e", expires
			n += 2
		}
	}
	if c.SetUserID && c.UserID != "" {
		meta[n], meta[n+1] = "m:u", user
		n += 2
		if score != nil {
			meta[n], meta[n+1] = "m:us", score
			n += 2
		}
	}
	var attrsOp any = "" // keeps them
	switch {
	case !c.SetAttrs:
	case attrs.field == "":
		attrsOp = "-"
	default:
		attrsOp = attrs.size
		meta[n], meta[n+1] = "m:a", attrs.field
		n += 2
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

	var boost any = "0"
	if c.SetUserID && c.UserID != "" && s.lfu.Load() {
		boost = "1"
	}

	var liveAt any = "0"
	if c.Mode == store.Update && !c.LiveAt.IsZero() {
		liveAt = c.LiveAt.UnixMilli()
	}
	args := commitScript.args(s.sessionKey(id), 12+len(dels)+n+2*len(c.Set))
	args = append(args, op, s.cfg.publishArg, id, user, pexpire, s.cfg.limitArg, len(dels), pairLetters[n/2], deadlineArg(ctx), boost, liveAt, attrsOp)
	for _, k := range dels {
		args = append(args, field(k))
	}
	args = append(args, meta[:n]...)
	for k, v := range c.Set {
		args = append(args, field(k), v)
	}
	return args
}

// pairLetters[n] is the commit script's ARGV 8 for n metadata pairs: a letter
// per pair (its length is all the script reads, without a tonumber), boxed
// once.
var pairLetters = [7]any{"", "x", "xx", "xxx", "xxxx", "xxxxx", "xxxxxx"}

// attrsArg is a change's attributes as the commit script takes them: the m:a
// field ("" for none) and the bytes they count for in the size limit.
type attrsArg struct {
	field string
	size  int
}

// noDeadline is a script's deadline argument for a call without one.
var noDeadline any = "0"

// deadlineArg is ctx's deadline as a script argument: Unix milliseconds, "0"
// for none. The script refuses the write once Redis' clock has reached it.
func deadlineArg(ctx context.Context) any {
	if d, ok := ctx.Deadline(); ok {
		return max(d.UnixMilli(), 1)
	}
	return noDeadline
}

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

// indexed is the user index entry a write took a session out of: the user
// ("" for none) and the entry's score as the session recorded it ("" if it
// did not, as records written before scores were recorded).
type indexed struct {
	user, score string
}

// outcome maps a script's reply to the store's errors, and returns the new
// version and the index entry it reports on success.
func (s *Store) outcome(op string, res any) (version uint64, old indexed, err error) {
	if v, ok := res.(int64); ok { // a success reporting only the version
		if v <= 0 {
			return 0, old, fmt.Errorf("redisstore: %s: unexpected reply %v", op, res)
		}
		return uint64(v), old, nil
	}
	reply, _ := res.([]any)
	code, ok := at[int64](reply, 0)
	if !ok {
		return 0, old, fmt.Errorf("redisstore: %s: unexpected reply %v", op, res)
	}
	switch code {
	case codeOK:
		v, ok := at[int64](reply, 1)
		if !ok || v <= 0 {
			return 0, old, fmt.Errorf("redisstore: %s: unexpected reply %v", op, reply)
		}
		old.user, _ = at[string](reply, 2)
		old.score, _ = at[string](reply, 3)
		return uint64(v), old, nil
	case codeNotFound:
		return 0, old, store.ErrNotFound
	case codeMoved:
		to, _ := at[string](reply, 1)
		sealed, _ := at[string](reply, 2)
		return 0, old, &store.MovedError{Moved: store.Moved{To: to, Sealed: []byte(sealed)}}
	case codeExists:
		return 0, old, store.ErrExists
	case codeTooLarge:
		size, _ := at[int64](reply, 1)
		return 0, old, &store.TooLargeError{Size: int(size), Limit: s.cfg.maxRecordSize}
	case codeConflict:
		return 0, old, store.ErrConflict
	case codeLate:
		return 0, old, fmt.Errorf("redisstore: %s: refused, Redis received it after the caller's deadline: %w", op, context.DeadlineExceeded)
	}
	return 0, old, fmt.Errorf("redisstore: %s: unexpected reply %v", op, reply)
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
	if err := s.refusal(); err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	stored, pexpireAt := expiryArgs(expires)
	if stored == nil {
		stored = ""
	}
	args := append(touchScript.args(s.sessionKey(id), 6), s.cfg.publishArg, id, timeArg(lastSeen), stored, pexpireAt, deadlineArg(ctx))
	reply, err := s.eval(ctx, touchScript, args).Result()
	if err != nil {
		return s.wrap(ctx, "touch", err)
	}
	_, _, err = s.outcome("touch", reply)
	return err
}

// Move implements [store.Store] with one script that checks the version and
// replaces the record by a tombstone; the old user's index entry goes after.
// A Move run again after its reply was lost (go-redis resends a command whose
// connection broke) finds its own tombstone and succeeds. A tombstone whose
// expires has passed is gone at once, so a resend of such a Move finds
// nothing and returns store.ErrNotFound: give a tombstone a lifetime longer
// than a call may take if its Move must be recognised when resent.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.refusal(); err != nil {
		return fmt.Errorf("redisstore: move: %w", err)
	}
	args := append(moveScript.args(s.sessionKey(id), 8), s.cfg.publishArg, id,
		strconv.FormatUint(ifVersion, 10), m.To, m.Sealed, encodeTime(expires), expireAt(expires), deadlineArg(ctx))
	reply, err := s.eval(ctx, moveScript, args).Result()
	if err != nil {
		return s.wrap(ctx, "move", err)
	}
	_, old, err := s.outcome("move", reply)
	if err != nil {
		return err
	}
	s.unindex(ctx, old, id)
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
	reply, err := s.eval(ctx, deleteScript, append(deleteScript.args(s.sessionKey(id), 2), s.cfg.publishArg, id)).Slice()
	if err != nil {
		return s.wrap(ctx, "delete", err)
	}
	var old indexed
	old.user, _ = at[string](reply, 0)
	old.score, _ = at[string](reply, 1)
	s.unindex(ctx, old, id)
	return nil
}

// unindex removes id from old.user's index after a write took the session
// away from that user, if the entry still has the score the session recorded:
// a commit that gave the session back to the user meanwhile re-indexed it
// with a higher score, and its entry stays (see unindexScript). An entry
// without a recorded score is left for the lazy cleanup. The write has
// happened, so a failure here is not the caller's: the entry left behind is
// one that readers skip and remove anyway.
func (s *Store) unindex(ctx context.Context, old indexed, id string) {
	if old.user == "" || old.score == "" {
		return
	}
	if s.cfg.beforeUnindex != nil {
		s.cfg.beforeUnindex(id)
	}
	if err := s.removeEntries(ctx, old.user, []any{id, old.score, 0}); err != nil {
		s.cfg.logger.Debug("redisstore: removing a user index entry failed; it will be cleaned up later", "err", err)
	}
}
