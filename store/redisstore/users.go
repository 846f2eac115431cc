package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/store"
)

// The user index of a user is a sorted set under prefix+"u:"+userID: its
// members are session IDs, scored by when they were indexed (Unix
// milliseconds by the clock of the Redis node that holds the index, which
// the scripts read: the app nodes' clocks may disagree, and one a minute
// behind the others would otherwise index entries that look old enough to
// prune the moment they are added). It lives in another hash slot
// than the sessions it lists, so it is maintained by separate commands: an
// entry is added before the commit that gives a session its user, and removed
// after the commit that takes it away. So the index may name sessions that are
// gone or belong to someone else — readers check every entry against the
// session itself — but never misses one.
//
// Stale entries are removed lazily, by UserSessions, DeleteUser and by
// indexing a new session when the index has grown past indexPruneAbove
// entries. An entry younger than indexGrace is never removed, even if its
// session is not there: it may belong to a commit that indexed the session
// and has not written it yet. The age is judged by the index's own node,
// inside the script that removes the entry (unindexScript): the app node
// only proposes entries, by its own clock.
const (
	indexGrace       = time.Minute
	indexPruneAbove  = 32
	indexPruneSample = 16
)

// maxFollowHops bounds how many rotations UserSessions follows from a
// session the index listed, each one more pipeline. A session that is still
// rotating after them fails the call with store.ErrConflict: a listing
// without it would read as "no sessions" to "log out everywhere", which
// stops at the first empty one.
const maxFollowHops = 32

// entry is one member of a user index.
type entry struct {
	id    string
	score int64 // when it was indexed, Unix milliseconds
}

// indexAdd adds id to user's index, and prunes the oldest entries of an index
// that has grown past indexPruneAbove. It returns the entry's score, for the
// commit to record in the session (m:us).
func (s *Store) indexAdd(ctx context.Context, user, id string) (score any, err error) {
	args := append(indexAddScript.args(s.userKey(user), 4),
		id, indexPruneAbove, indexPruneSample, indexGrace.Milliseconds())
	reply, err := s.eval(ctx, indexAddScript, args).Slice()
	if err != nil {
		return nil, s.wrap(ctx, "commit: user index", err)
	}
	sc, ok := at[int64](reply, 0)
	if !ok {
		return nil, fmt.Errorf("redisstore: commit: user index: unexpected reply %v", reply)
	}
	score = sc
	reply = reply[1:]
	if len(reply) == 0 {
		return score, nil
	}
	var old []entry
	for i := 0; i+1 < len(reply); i += 2 {
		id, _ := reply[i].(string)
		score, _ := reply[i+1].(string)
		ms, err := strconv.ParseInt(score, 10, 64)
		if err != nil {
			ms = 0
		}
		old = append(old, entry{id: id, score: ms})
	}
	// Pruning is housekeeping: the commit does not fail for it, and what it
	// misses the next one does.
	if _, dead, err := s.check(ctx, user, old, s.cfg.now(), nil); err == nil && len(dead) > 0 {
		if err := s.removeEntries(ctx, user, dead); err != nil {
			s.cfg.logger.Debug("redisstore: pruning a user index failed", "err", err)
		}
	}
	return score, nil
}

// removeEntries removes entries from user's index, given as triples of id,
// score and least age in milliseconds (see unindexScript and removal), each
// only if its score is still the one given and it is at least that old by the
// index node's clock.
func (s *Store) removeEntries(ctx context.Context, user string, triples []any) error {
	args := append(unindexScript.args(s.userKey(user), len(triples)), triples...)
	return s.eval(ctx, unindexScript, args).Err()
}

// graceMillis is indexGrace as unindexScript's least age: the removal of an
// entry whose session was not found, which may be one a commit indexed and
// has not written yet.
var graceMillis = indexGrace.Milliseconds()

// removal appends the entry e to triples for removeEntries, with the least
// age minAge (0, or graceMillis).
func removal(triples []any, e entry, minAge int64) []any {
	return append(triples, e.id, e.score, minAge)
}

// entries returns user's index.
func (s *Store) entries(ctx context.Context, op, user string) ([]entry, error) {
	zs, err := s.client.ZRangeWithScores(ctx, s.userKey(user), 0, -1).Result()
	if err != nil {
		return nil, s.wrap(ctx, op, err)
	}
	out := make([]entry, 0, len(zs))
	for _, z := range zs {
		id, _ := z.Member.(string)
		out = append(out, entry{id: id, score: int64(z.Score)})
	}
	return out, nil
}

// check reads the metadata of the sessions of entries in one pipeline (one
// round trip per node), and sorts the entries into the live sessions of user
// and the entries that can go, as triples for removeEntries: their session
// is gone, expired, moved or someone else's, and they are older than
// indexGrace by now (the index node then judges their age again). Given
// seen (the IDs whose records were read), it also follows the rotations of
// the sessions it found moved (see follow), adding to seen; the dead
// entries are returned whatever that finds.
func (s *Store) check(ctx context.Context, user string, entries []entry, now time.Time, seen map[string]bool) (live []store.Info, dead []any, err error) {
	if len(entries) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	metas, err := s.metas(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	cutoff := now.Add(-indexGrace).UnixMilli()
	if seen != nil {
		// Only a record that was read is done with: an entry whose record
		// is not there yet may belong to a rotation that writes it next,
		// and a tombstone read after that must lead the chase to it.
		for i, e := range entries {
			if metas[i] != nil {
				seen[e.id] = true
			}
		}
	}
	var moved []string // the successors of rotation tombstones
	for i, e := range entries {
		f := metas[i]
		if info, ok, err := sessionInfo(e.id, user, f); ok {
			if err != nil {
				s.cfg.logger.Warn("redisstore: a session's attributes are corrupt; listing it without them", "err", err)
			}
			live = append(live, info)
			continue
		} else if to := forwardOf(e.id, f); to != "" && !seen[to] {
			moved = append(moved, to)
		}
		if e.score < cutoff {
			dead = removal(dead, e, graceMillis)
		}
	}
	if seen != nil {
		live, err = s.follow(ctx, user, moved, seen, live)
	}
	return live, dead, err
}

// meta is what UserSessions and DeleteUser need of a session: its string,
// split (see layout.go), or nil if there is none or it does not parse.
type meta = *parsed

// metaPeek is how much of a session metas reads at first: the header, the
// user id and the attributes of any but a session with kilobytes of them,
// and none of the values that follow, whatever they take.
const metaPeek = 4096

// metas reads the sessions of ids in one pipeline (one round trip per
// node): the first metaPeek bytes of each. A session whose attributes run
// past them is read whole, and one stored as a hash of the previous layout
// is read into the same form with HMGET, in a second pipeline.
func (s *Store) metas(ctx context.Context, ids []string) ([]meta, error) {
	pipe := s.client.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.GetRange(ctx, s.sessionKey(id), 0, metaPeek-1)
	}
	_, _ = pipe.Exec(ctx)
	out := make([]meta, len(ids))
	var hashes, long []int
	for i, c := range cmds {
		b, err := c.Result()
		switch {
		case isWrongType(err):
			hashes = append(hashes, i)
		case err != nil:
			return nil, s.wrap(ctx, "user sessions", err)
		case b == "": // none
		case len(b) == metaPeek && !parses(b):
			long = append(long, i)
		default:
			out[i] = metaOf(b)
		}
	}
	if len(hashes) == 0 && len(long) == 0 {
		return out, nil
	}
	pipe = s.client.Pipeline()
	hcmds := make([]*redis.SliceCmd, len(hashes))
	for j, i := range hashes {
		hcmds[j] = pipe.HMGet(ctx, s.sessionKey(ids[i]), "m:u", "m:to", "m:c", "m:l", "m:e", "m:a")
	}
	lcmds := make([]*redis.StringCmd, len(long))
	for j, i := range long {
		lcmds[j] = pipe.Get(ctx, s.sessionKey(ids[i]))
	}
	_, _ = pipe.Exec(ctx)
	for j, i := range long {
		b, err := lcmds[j].Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, s.wrap(ctx, "user sessions", err)
		default:
			out[i] = metaOf(b)
		}
	}
	for j, i := range hashes {
		vals, err := hcmds[j].Result()
		switch {
		case isWrongType(err):
			// A write turned the hash into a string since the GET.
			b, err := s.client.Get(ctx, s.sessionKey(ids[i])).Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, s.wrap(ctx, "user sessions", err)
			}
			out[i] = metaOf(b)
		case err != nil:
			return nil, s.wrap(ctx, "user sessions", err)
		default:
			out[i] = metaOfHash(vals)
		}
	}
	return out, nil
}

// parses reports whether b parses as a session string (whose values are not
// read: a prefix of one that holds its user id and attributes parses).
func parses(b string) bool {
	_, err := parse(b)
	return err == nil
}

// metaOf splits a session string. One that does not parse past its user id
// is still that user's session for the scripts (which read nothing else of
// it): it is listed without its attributes, so that it can be ended, and its
// index entry stays.
func metaOf(b string) meta {
	p, err := parse(b)
	if err == nil {
		return &p
	}
	if len(b) > headerLen && b[0] == kindRecord {
		if u, _, err := cutString(b[headerLen:]); err == nil {
			return &parsed{b: b, user: u}
		}
	}
	return nil
}

// metaOfHash builds a session's meta from the fields m:u, m:to, m:c, m:l, m:e
// and m:a of a hash of the previous layout: the string it would be now.
func metaOfHash(f []any) meta {
	if len(f) != 6 {
		return nil
	}
	str := func(i int) string { v, _ := f[i].(string); return v }
	b := make([]byte, 1, headerLen)
	b[0] = kindRecord
	b = append(b, make([]byte, 8)...) // the version: not needed here
	for _, i := range []int{3, 4, 2} {
		t, err := decodeTime(str(i))
		if err != nil {
			return nil
		}
		b = appendTime(b, t)
	}
	b = append(b, make([]byte, 8)...) // the score: not needed here
	p := parsed{b: string(b), user: str(0), attrs: str(5)}
	if f[1] != nil {
		p.tombstone, p.to, p.user = true, str(1), ""
	} else if f[0] == nil {
		return nil // no such session
	}
	return &p
}

// forwardOf is the ID a rotation tombstone of id forwards to, or "" for
// anything else (a live session, an ended one: it forwards to its own ID).
func forwardOf(id string, f meta) string {
	if f != nil && f.tombstone && f.to != id {
		return f.to
	}
	return ""
}

// follow adds to live the sessions of user that the index entries' sessions
// rotated to after the index was read: a device that rotates between
// UserSessions' ZRANGE and its reads is listed under its new record (which
// the index read missed), not left out, so "log out everywhere", which
// repeats until the listing is empty, cannot miss it. At most maxFollowHops
// rounds, each one pipeline; seen holds every ID whose record was read so
// far, so a chain is walked once and a cycle (of tombstones, all read) ends. A chain still going after them is reported
// with errStillRotating.
func (s *Store) follow(ctx context.Context, user string, ids []string, seen map[string]bool, live []store.Info) ([]store.Info, error) {
	for hop := 0; len(ids) > 0 && hop < maxFollowHops; hop++ {
		metas, err := s.metas(ctx, ids)
		if err != nil {
			return nil, err
		}
		var next []string
		for i, id := range ids {
			if metas[i] != nil {
				seen[id] = true
			}
			if info, ok, _ := sessionInfo(id, user, metas[i]); ok {
				live = append(live, info)
			} else if to := forwardOf(id, metas[i]); to != "" && !seen[to] {
				next = append(next, to)
			}
		}
		ids = next
	}
	if len(ids) > 0 {
		return live, errStillRotating
	}
	return live, nil
}

// errStillRotating is follow's report of a chain of rotations longer than
// maxFollowHops.
var errStillRotating = errors.New("still rotating")

// sessionInfo builds the Info of a session, if it is a live session of user.
// One whose attributes do not decode is listed without them, with the error:
// it is a live session of the user, which a "your devices" page must show,
// so that it can be ended.
func sessionInfo(id, user string, f meta) (info store.Info, ok bool, attrsErr error) {
	if f == nil || f.tombstone || f.user != user {
		return store.Info{}, false, nil
	}
	info = store.Info{
		ID: id, UserID: user,
		Created:  headerTime(f.b, offCreated),
		LastSeen: headerTime(f.b, offLast),
		Expires:  headerTime(f.b, offExpires),
	}
	if f.attrs != "" {
		// A copy: the attributes would otherwise keep the whole read alive
		// (4 KiB, or a session read whole).
		if info.Attrs, attrsErr = decodeAttrs(strings.Clone(f.attrs)); attrsErr != nil {
			attrsErr = fmt.Errorf("redisstore: user sessions: %.12s: %w", id, attrsErr)
		}
	}
	return info, true, attrsErr
}

// UserSessions implements [store.Store]: one ZRANGE, then one pipelined GET
// of every listed session, and, for a session that rotated since
// the ZRANGE, one more of its successor's (see follow). Entries whose
// session is gone are removed (after indexGrace).
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if userID == "" {
		return nil, nil // "" names no user: anonymous sessions are not indexed
	}
	entries, err := s.entries(ctx, "user sessions", userID)
	if err != nil {
		return nil, err
	}
	if s.cfg.afterEntries != nil {
		s.cfg.afterEntries()
	}
	now := s.cfg.now()
	seen := make(map[string]bool, len(entries))
	live, dead, err := s.check(ctx, userID, entries, now, seen)
	if errors.Is(err, errStillRotating) {
		// A chain longer than maxFollowHops: a device rotating faster than
		// the listing reads, or old tombstones behind an index entry that
		// lingered. The index as it is now names the head of every chain
		// that is still going (a session is indexed before it is written);
		// if it names no session the first read did not, the chain is
		// history, and the listing is complete without it.
		live, dead, err = s.recheck(ctx, userID, seen, now, live, dead)
	}
	if len(dead) > 0 {
		if err := s.removeEntries(ctx, userID, dead); err != nil {
			s.cfg.logger.Debug("redisstore: cleaning a user index failed", "err", err)
		}
	}
	if err != nil {
		if errors.Is(err, errStillRotating) {
			err = fmt.Errorf("redisstore: user sessions: a session still rotating after %d hops: %w", maxFollowHops, store.ErrConflict)
		}
		return nil, err
	}
	return live, nil
}

// recheck reads user's index again after a listing whose follow ran out of
// hops, and checks the entries whose records the first pass did not read
// (new ones, and any whose record was not there yet), with their own hops,
// adding to live and dead.
func (s *Store) recheck(ctx context.Context, user string, seen map[string]bool, now time.Time, live []store.Info, dead []any) ([]store.Info, []any, error) {
	again, err := s.entries(ctx, "user sessions", user)
	if err != nil {
		return nil, dead, err
	}
	var fresh []entry
	for _, e := range again {
		if !seen[e.id] {
			fresh = append(fresh, e)
		}
	}
	more, dead2, err := s.check(ctx, user, fresh, now, seen)
	dead = append(dead, dead2...)
	if err != nil {
		return nil, dead, err
	}
	return append(live, more...), dead, nil
}

// DeleteUser implements [store.Store]: one ZRANGE, one pipelined script per
// listed session that ends it if it (still) belongs to the user (it becomes a
// tombstone that forwards nothing: deleteIfUserScript), then one
// ZREM of the entries dealt with (best effort: what it leaves is cleaned up
// later). A session indexed while DeleteUser runs may
// survive it, as it would if it had been created just after.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if userID == "" {
		return 0, nil
	}
	entries, err := s.entries(ctx, "delete user", userID)
	if err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return 0, nil
	}
	mark := rand.Text()
	cmds, err := s.runPipelined(ctx, deleteIfUserScript, len(entries), func(i int) []any {
		return append(deleteIfUserScript.args(s.sessionKey(entries[i].id), 4), s.cfg.publishArg, entries[i].id, userID, mark)
	})
	if err != nil {
		return 0, s.wrap(ctx, "delete user", err)
	}
	cutoff := s.cfg.now().Add(-indexGrace).UnixMilli()
	n := 0
	var done []any
	for i, e := range entries {
		deleted, _ := cmds[i].Int64()
		n += int(deleted)
		switch {
		case deleted == 1:
			done = removal(done, e, 0)
		case e.score < cutoff:
			done = removal(done, e, graceMillis)
		}
	}
	if len(done) > 0 {
		// The sessions are gone; entries left by a failure here are
		// skipped and removed later. An entry re-added meanwhile (a
		// login racing this) has another score and stays.
		if err := s.removeEntries(ctx, userID, done); err != nil {
			s.cfg.logger.Debug("redisstore: cleaning a user index failed", "err", err)
		}
	}
	return n, nil
}

// runPipelined runs sc n times in one pipeline, with the argument lists
// args(i) builds with sc.args, by EVALSHA, and again by EVAL for the calls
// that met a node without the script (NOSCRIPT: a restarted or new node).
func (s *Store) runPipelined(ctx context.Context, sc *script, n int, args func(i int) []any) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, n)
	pipe := s.client.Pipeline()
	for i := range n {
		cmds[i] = pipe.Do(ctx, args(i)...)
	}
	_, _ = pipe.Exec(ctx)
	var retry []int
	for i, c := range cmds {
		if isNoScript(c.Err()) {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe = s.client.Pipeline()
		for _, i := range retry {
			a := args(i)
			a[0], a[1] = "eval", sc.src
			cmds[i] = pipe.Do(ctx, a...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}
