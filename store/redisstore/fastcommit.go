package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/tether-go/tether/store"
)

// The fast path of a commit (a prototype). A session layer that loaded the
// record in this request passes it as the Change's Base: then Go computes
// the whole new string (store.Change.Apply on the Base's values) and a tiny
// script checks that the stored header still is the Base's, and writes the
// new string over it. The commit script's walk of the pairs and rebuild of
// the record (dozens of Lua C-function calls and VM ops, about 100,000
// redis-server instructions per small update) is then not run.
//
// On any mismatch (another write came in between, a Touch, a resend of this
// very commit after its reply was lost, a tombstone, a missing key, a hash of
// the previous layout) the script changes nothing and replies codeConflict,
// and the commit runs the commit script as it would have without a Base: a
// second round trip, only then. Go hands a commit to the commit script
// without trying when it cannot decide cheaply: a user id set (the user
// index), a size over the limit, a LiveAt not before the Base's expiry, a
// Base that is a tombstone or has no version.

// fastCommitScript writes a record computed in Go over the stored one if the
// stored header's first 33 bytes (kind, version, last seen, expires,
// created) are ARGV[2]. The score (bytes 34-41) is kept from the stored
// header: Go does not know it, and the fast path never changes the user.
// ARGV: 1 the caller's deadline, 2 the expected header prefix, 3 the new
// header prefix (33 bytes), 4 what follows the header (user id, attributes,
// values), 5 the expiry in Unix milliseconds for SET's PXAT ("" keeps the
// expiry), 6 channel, 7 id. Replies 0 on success, {5} on a mismatch, {6}
// late.
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
local h = redis.pcall('GETRANGE', key, 0, 40)
if type(h) ~= 'string' or #h ~= 41 or string.sub(h, 1, 33) ~= ARGV[2] then return {5} end
if ARGV[5] ~= '' then
  redis.call('SET', key, ARGV[3] .. string.sub(h, 34, 41) .. ARGV[4], 'PXAT', ARGV[5])
else
  redis.call('SET', key, ARGV[3] .. string.sub(h, 34, 41) .. ARGV[4], 'KEEPTTL')
end
if ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return 0
`)

// defaultFastCommitMax is the largest record (its whole string) the fast
// path writes; a commit that would make a larger one goes to the commit
// script. A guess, not a measurement: a few typical sessions' worth.
const defaultFastCommitMax = 8 << 10

// fastCommit applies c through the fast path if it can. done reports that
// the commit is decided (applied, or refused for good: late, a failure);
// false hands it to the commit script.
func (s *Store) fastCommit(ctx context.Context, id string, c *store.Change) (res store.Result, done bool, err error) {
	args, ok := s.fastArgs(ctx, id, c)
	if !ok {
		s.fastMissed.Add(1)
		return res, false, nil
	}
	reply, err := s.eval(ctx, fastCommitScript, args).Result()
	if err != nil {
		return res, true, s.wrap(ctx, "commit", err)
	}
	if v, ok := reply.(int64); ok && v == 0 {
		s.fast.Add(1)
		return store.Result{Version: c.Base.Version + 1}, true, nil
	}
	_, _, err = s.outcome("commit", reply)
	if errors.Is(err, store.ErrConflict) {
		s.fastMissed.Add(1)
		return res, false, nil
	}
	if err == nil {
		err = fmt.Errorf("redisstore: commit: unexpected reply %v", reply)
	}
	return res, true, err
}

// fastArgs builds the fast script's call, or reports that Go cannot decide
// the commit cheaply.
func (s *Store) fastArgs(ctx context.Context, id string, c *store.Change) ([]any, bool) {
	b := c.Base
	if c.Mode != store.Update || c.SetUserID || b.Moved != nil || b.Version == 0 || b.Version >= math.MaxInt64 ||
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
	var attrs string
	var asize int
	if c.SetAttrs {
		attrs, asize = encodeAttrs(c.Attrs)
	} else {
		attrs, asize = encodeAttrs(b.Attrs)
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
	head = binary.BigEndian.AppendUint64(head, b.Version+1)
	head = appendTime(head, lastSeen)
	head = appendTime(head, expires)
	head = appendTime(head, b.Created)

	packed := values.Packed()
	body := make([]byte, 0, 2*binary.MaxVarintLen64+len(b.UserID)+len(attrs)+len(packed))
	body = appendField(body, b.UserID)
	body = appendField(body, attrs)
	body = append(body, packed...)

	if headerLen+len(body) > s.cfg.fastCommitMax {
		// The fast path sends the whole record for a change of a few
		// bytes; the commit script's walk of a large record is cheaper
		// than its copy over the wire and through Redis' argument parsing.
		return nil, false
	}

	var expiry any = "" // keeps the expiry, as the commit script does
	if !c.Expires.IsZero() {
		expiry = pxat(c.Expires)
	}
	args := fastCommitScript.args(s.sessionKey(id), 7)
	return append(args, deadlineArg(ctx), e, head, body, expiry, s.cfg.publishArg, id), true
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
