package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/tether-go/tether/internal/versionstep"
	"github.com/tether-go/tether/store"
)

// The fast path of a commit. A session that loaded its record in this
// request passes it as the Change's Base (see store.Change.Base): Go then
// computes the whole new string (store.Change.Apply on the Base's values),
// and a small script checks that the stored string still is the Base's and
// writes the new one over it. The commit script's walk of the pairs and
// rebuild of the record (dozens of Lua C-function calls and a few hundred VM
// steps: about two thirds of redis-server's work for a small update,
// callgrind) is then not run.
//
// On any mismatch (another write came in between, a Touch, a resend of this
// very commit after its reply was lost, a tombstone, a missing key, a hash
// of the previous layout, pairs out of key order) the script changes
// nothing and replies codeConflict, and the commit runs the commit script as
// it would have without a Base: a second round trip, only then. Go hands a
// commit to the commit script without trying when it cannot decide cheaply:
// a user id set (the user index), a size over the limit or over the fast
// path's cap, a LiveAt not before the Base's expiry, a Base that is a
// tombstone or has no version.

// fastCommitScript writes a record computed in Go over the stored one if
// the stored string is, byte for byte, the Base's: its first 33 bytes (kind,
// version, last seen, expires, created) are ARGV[2] and what follows the
// score (user id, attributes, values) is ARGV[3]. The score (bytes 34-41) is
// kept from the stored header: Go does not know it, and the fast path never
// changes the user. ARGV: 1 the caller's deadline, 2 and 3 the expected
// string as above, 4 the new header prefix (33 bytes), 5 what follows the
// new header, 6 the expiry in Unix milliseconds for SET's PXAT ("" keeps
// the expiry), 7 channel, 8 id. Replies 0 on success, {5} on a mismatch,
// {6} late.
//
// The whole string is compared, not only the header's version and times: a
// version says which write made the record only while Redis keeps every
// write it acknowledged. After a failover (or a restart from a snapshot)
// lost one, the next write gets the lost write's version again, with other
// values and, between touches, the same times; a Base loaded from the lost
// write would match that header and put its values back over the newer
// ones (TestFastCommitAfterLostWrite). A record equal to the Base byte for
// byte is the Base, whichever write made it, so the change applies to it
// exactly as the commit script would apply it. Lua interns strings, so the
// comparisons cost a copy of the string, not a second pass over it.
//
// The deadline is checked inline (luaLate's late, without its function and
// its tonumber and math.floor calls: Lua coerces the strings in arithmetic,
// and for a whole-millisecond deadline d, now >= d in fractional
// milliseconds exactly when it holds in whole ones).
var fastCommitScript = newScript(`
local key, d = KEYS[1], ARGV[1]
if d ~= '0' then
  local t = redis.call('TIME')
  if t[1] * 1000 + t[2] / 1000 >= d + 0 then return {6} end
end
local h = redis.pcall('GET', key)
if type(h) ~= 'string' then return {5} end
if string.sub(h, 1, 33) ~= ARGV[2] or string.sub(h, 42) ~= ARGV[3] then
  if #h <= ` + strconv.Itoa(defaultFastCommitMax) + ` and string.sub(h, 1, 1) == 'r' then return {5, h} end
  return {5}
end
if ARGV[6] ~= '' then
  redis.call('SET', key, ARGV[4] .. string.sub(h, 34, 41) .. ARGV[5], 'PXAT', ARGV[6])
else
  redis.call('SET', key, ARGV[4] .. string.sub(h, 34, 41) .. ARGV[5], 'KEEPTTL')
end
if ARGV[7] ~= '' then redis.call('PUBLISH', ARGV[7], ARGV[8]) end
return 0
`)

// defaultFastCommitMax is the largest record (its whole string) the fast
// path writes; a commit that would make a larger one goes to the commit
// script. A guess, not a measurement: a few typical sessions' worth.
const defaultFastCommitMax = 8 << 10

// fastCommit applies c through the fast path if it can. done reports that
// the commit is decided (applied, or refused for good: late, a failure);
// false hands it to the commit script.
//
// A mismatch replies with the stored record, if it is one no larger than
// the fast path writes: the commit is then tried once more on it, as its
// Base, compared byte for byte with what the reply said is stored. A
// record whose pairs are out of key order (the commit script appends new
// keys), which no Base loaded and re-encoded in Go matches, is so written
// anew, sorted, and its next commits match again; a commit that raced
// another write applies on top of it with the small script. A second
// mismatch (a third write in between) goes to the commit script.
//
// attrs is c's attributes as Commit encoded them, if c sets them.
func (s *Store) fastCommit(ctx context.Context, id string, c *store.Change, attrs attrsArg) (res store.Result, done bool, err error) {
	b, stored := c.Base, ""
	for range 2 {
		step := s.versionStep()
		args, ok := s.fastArgs(ctx, id, c, attrs, b, stored, step)
		if !ok {
			if stored == "" {
				s.fastDeclined.Add(1)
			}
			return res, false, nil
		}
		reply, err := s.eval(ctx, fastCommitScript, args).Result()
		if err != nil {
			return res, true, s.wrap(ctx, "commit", err)
		}
		if v, ok := reply.(int64); ok && v == 0 {
			s.fast.Add(1)
			return store.Result{Version: b.Version + step, Prior: b.Version}, true, nil
		}
		if _, _, err = s.outcome("commit", reply); !errors.Is(err, store.ErrConflict) {
			if err == nil {
				err = fmt.Errorf("redisstore: commit: unexpected reply %v", reply)
			}
			return res, true, err
		}
		s.fastConflicts.Add(1)
		r, _ := reply.([]any)
		if stored, _ = at[string](r, 1); stored == "" {
			return res, false, nil
		}
		if s.cfg.beforeFastRetry != nil {
			s.cfg.beforeFastRetry(id)
		}
		if b, err = decodeString(stored); err != nil || b.Moved != nil {
			return res, false, nil // the commit script's to report
		}
	}
	return res, false, nil
}

// fastArgs builds the fast script's call for c applied to b, or reports
// that Go cannot decide the commit cheaply. stored is the string b was
// decoded from, if the fast script replied with it; "" if b is the Base.
func (s *Store) fastArgs(ctx context.Context, id string, c *store.Change, set attrsArg, b *store.Record, stored string, step uint64) ([]any, bool) {
	// Versions at or past 2^53 (corrupt or hostile headers: a record
	// written once a millisecond would take 285,000 years) are the commit
	// script's, whose Lua numbers are doubles.
	if c.Mode != store.Update || c.SetUserID || b.Moved != nil || b.Version == 0 || b.Version >= 1<<53-versionstep.Max ||
		b.Expires.IsZero() {
		return nil, false
	}
	// The commit script refuses an update whose LiveAt is not before the
	// stored expiry, which is the Base's (the header check below): that
	// refusal (ErrNotFound) is the commit script's to make.
	if !c.LiveAt.IsZero() && c.LiveAt.UnixMilli() >= b.Expires.UnixMilli() {
		return nil, false
	}
	values := c.Apply(b.Values)
	oldAttrs, asize := encodeAttrs(b.Attrs)
	attrs := oldAttrs
	if c.SetAttrs {
		attrs, asize = set.field, set.size // encoded once, by Commit
	}
	if values.Size()+asize+len(b.UserID) > s.cfg.maxRecordSize {
		return nil, false // the commit script's to refuse, as it counts
	}

	var expect [33]byte
	e := append(expect[:0], kindRecord)
	e = binary.BigEndian.AppendUint64(e, b.Version)
	e = appendTime(e, b.LastSeen)
	e = appendTime(e, b.Expires)
	e = appendTime(e, b.Created)

	lastSeen, expires := c.LastSeen, c.Expires
	if lastSeen.IsZero() {
		lastSeen = b.LastSeen
	}
	if expires.IsZero() {
		expires = b.Expires
	}
	head := make([]byte, 0, 33)
	head = append(head, kindRecord)
	head = binary.BigEndian.AppendUint64(head, b.Version+step)
	head = appendTime(head, lastSeen)
	head = appendTime(head, expires)
	head = appendTime(head, b.Created)

	body := appendBody(nil, b.UserID, attrs, values.Packed())
	if headerLen+len(body) > s.cfg.fastCommitMax {
		// The fast path sends the whole record for a change of a few
		// bytes, twice (as it was and as it becomes); the commit
		// script's walk of a large record is cheaper than its copies
		// over the wire and through Redis' argument parsing.
		return nil, false
	}
	// What the stored string holds after the header if it is b: the
	// string itself when the script replied with it, else b re-encoded,
	// its pairs in key order (see fastCommit for a record whose are not).
	var was []byte
	if stored != "" {
		e, was = append(e[:0], stored[:offScore]...), []byte(stored[headerLen:])
	} else {
		was = appendBody(nil, b.UserID, oldAttrs, b.Values.Packed())
	}

	var expiry any = "" // keeps the expiry, as the commit script does
	if !c.Expires.IsZero() {
		expiry = pxat(c.Expires)
	}
	args := fastCommitScript.args(s.sessionKey(id), 8)
	return append(args, deadlineArg(ctx), e, was, head, body, expiry, s.cfg.publishArg, id), true
}

// appendBody appends what follows a record's header: the user id and the
// attributes, length-prefixed, then the packed values.
func appendBody(b []byte, user, attrs, packed string) []byte {
	b = slices.Grow(b, 2*binary.MaxVarintLen64+len(user)+len(attrs)+len(packed))
	b = binary.AppendUvarint(b, uint64(len(user)))
	b = append(b, user...)
	b = binary.AppendUvarint(b, uint64(len(attrs)))
	b = append(b, attrs...)
	return append(b, packed...)
}
