package redisstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"

	"time"

	"github.com/tether-go/tether/internal/versionstep"
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

	if err := s.refusal(ctx); err != nil {
		return store.Result{}, fmt.Errorf("redisstore: commit: %w", err)
	}

	// Index first (see above), whatever this node's clock says of the new
	// expiry: Redis's clock judges it (the key's PXAT), and a node whose
	// clock runs ahead would otherwise leave a session Redis keeps live out
	// of its user's index, where DeleteUser cannot find it. An entry of a
	// record that is gone is pruned like any dead entry.
	var score any
	if c.SetUserID && c.UserID != "" {
		if score, err = s.indexAdd(ctx, c.UserID, id); err != nil {
			return store.Result{}, err
		}
		if s.cfg.afterIndex != nil {
			s.cfg.afterIndex(id)
		}
	}

	if c.Base != nil && !c.SetUserID && !s.cfg.noFastCommit {
		if res, done, err := s.fastCommit(ctx, id, &c, attrs); done {
			return res, err
		}
	}
	step := uint64(1) // a create makes version 1
	if c.Mode == store.Update {
		step = s.versionStep()
	}
	reply, err := s.eval(ctx, commitScript, s.commitArgs(ctx, id, &c, attrs, score, step)).Result()
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
	res := store.Result{Version: version}
	if c.Mode == store.Update {
		res.Prior = version - step
	}
	return res, nil
}

// versionStep is how much a commit or a touch raises a record's version: a
// random amount (see internal/versionstep), so that a write after a failover
// that lost another does not take the lost write's version. Tombstones keep
// steps of one: nothing writes over a tombstone.
func (s *Store) versionStep() uint64 {
	if s.cfg.versionStep != nil {
		return s.cfg.versionStep()
	}
	return versionstep.Next()
}

// commitArgs builds the commit script's call. Keys both deleted and set are
// only set (Set applies after Delete), duplicates are dropped, and a Clear
// makes the deletions moot.
//
// Arguments are boxed into go-redis' []any, and each conversion of a string,
// a slice or a large integer allocates: so the constant ones are constants or
// boxed once at New, and the flags, numbers and header slots are one
// argument, the control block (see [Store.commitControl]).
//
// score is the session's score in its new user's index (nil when the commit
// indexes nothing), stored in the header for the removal that will take the
// entry out again. attrs is c's attributes encoded if c sets them, else zero
// (no field, no size).
func (s *Store) commitArgs(ctx context.Context, id string, c *store.Change, attrs attrsArg, score any, step uint64) []any {
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

	create := c.Mode == store.Create
	var user any = ""
	if c.SetUserID && c.UserID != "" {
		user = c.UserID
	}
	var expiry any = "" // keeps the expiry
	if create || !c.Expires.IsZero() {
		expiry = pxat(c.Expires)
	}
	args := commitScript.args(s.sessionKey(id), 6+len(dels)+2*len(c.Set))
	args = append(args, s.commitControl(ctx, c, attrs, score, len(dels), step), s.cfg.publishArg, id, user, expiry, attrs.field)
	for _, k := range dels {
		args = append(args, k)
	}
	// The set pairs in key order: the script adds the new keys in the order
	// it gets them, after the others, so a session created with its values
	// keeps them in the Values' own order, which a load then does not copy
	// again (see decodeString).
	if len(c.Set) == 1 {
		for k, v := range c.Set {
			args = append(args, k, v)
		}
		return args
	}
	keys := make([]string, 0, len(c.Set))
	for k := range c.Set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, k, c.Set[k])
	}
	return args
}

// commitControl is the commit script's control block (see commitScript):
// the change's flags, numbers and header slots in one argument.
func (s *Store) commitControl(ctx context.Context, c *store.Change, attrs attrsArg, score any, ndel int, step uint64) []byte {
	create := c.Mode == store.Create
	b := make([]byte, 0, commitControlSize)
	flag := func(on bool) {
		if on {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	flag(create)
	flag(c.Clear && !create)
	flag(create || c.SetUserID)
	flag(c.SetUserID && c.UserID != "" && s.lfu.Load())
	switch {
	case !c.SetAttrs:
		b = append(b, 'k')
	case attrs.field == "":
		b = append(b, '-')
	default:
		b = append(b, '=')
	}
	// Which of the header's slots the commit sets: last seen, expires,
	// created, score. A new user clears the score, unless indexed.
	slot := func(on bool) {
		if create || on {
			b = append(b, 's')
		} else {
			b = append(b, 'k')
		}
	}
	slot(!c.LastSeen.IsZero())
	slot(!c.Expires.IsZero())
	slot(false)
	slot(c.SetUserID)

	var liveAt int64
	if c.Mode == store.Update && !c.LiveAt.IsZero() {
		liveAt = c.LiveAt.UnixMilli()
	}
	for _, n := range [...]int64{deadlineMillis(ctx), liveAt, int64(s.cfg.maxRecordSize), int64(attrs.size), int64(ndel), int64(step)} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}

	b = appendTime(b, c.LastSeen)
	b = appendTime(b, c.Expires)
	b = appendTime(b, c.Created)
	sc, _ := score.(int64)
	return binary.BigEndian.AppendUint64(b, uint64(sc))
}

// commitControlSize is the length of a commit's control block: four flags,
// five letters, six integers and four slots.
const commitControlSize = 4 + 5 + 6*8 + 4*8

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
	if ms := deadlineMillis(ctx); ms != 0 {
		return ms
	}
	return noDeadline
}

// deadlineMillis is ctx's deadline in Unix milliseconds, at least 1; 0 for
// none.
func deadlineMillis(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		return max(d.UnixMilli(), 1)
	}
	return 0
}

// pxat is the expiry argument (SET's PXAT, PEXPIREAT) for a record expiring
// at t. A zero or pre-1970 expiry has passed: Redis deletes the key at once,
// as any store treats a record whose expiry has passed as gone.
func pxat(t time.Time) any {
	return max(t.UnixMilli(), 1)
}

// indexed is the user index entry a write took a session out of: the user
// ("" for none) and the entry's score as the session recorded it (0 if it
// did not).
type indexed struct {
	user  string
	score int64
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
		sc, _ := at[string](reply, 3)
		old.score, _ = scoreOf(sc)
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
	if err := s.refusal(ctx); err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	times := appendTime(appendTime(make([]byte, 0, 16), lastSeen), expires)
	args := append(touchScript.args(s.sessionKey(id), 6), s.cfg.publishArg, id, times, pxat(expires), deadlineArg(ctx), s.versionStep())
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
	if err := s.refusal(ctx); err != nil {
		return fmt.Errorf("redisstore: move: %w", err)
	}
	args := append(moveScript.args(s.sessionKey(id), 8), s.cfg.publishArg, id,
		strconv.FormatUint(ifVersion, 10), m.To, m.Sealed, appendTime(nil, expires), pxat(expires), deadlineArg(ctx))
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
	sc, _ := at[string](reply, 1)
	old.score, _ = scoreOf(sc)
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
	if old.user == "" || old.score == 0 {
		return
	}
	if s.cfg.beforeUnindex != nil {
		s.cfg.beforeUnindex(id)
	}
	if err := s.removeEntries(ctx, old.user, []any{id, old.score, 0}); err != nil {
		s.cfg.logger.Debug("redisstore: removing a user index entry failed; it will be cleaned up later", "err", err)
	}
}
