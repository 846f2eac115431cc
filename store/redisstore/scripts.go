package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The scripts run atomically on the node that holds their one key (KEYS[1]),
// so every check and write of an operation is one step, and Cluster-safe.
// A reply is a table that begins with a status code or, for a success with
// nothing to report but the new version, that version alone, an integer:
const (
	codeOK       = 0 // followed by the new version (and, for some, the old user id)
	codeNotFound = 1 // no live record
	codeMoved    = 2 // a tombstone; followed by m:to and m:sealed
	codeExists   = 3 // a create found the id in use
	codeTooLarge = 4 // followed by the size the record would have had
	codeConflict = 5 // a version check failed
	codeLate     = 6 // the caller's deadline had passed by Redis' clock
)

// The session scripts read and write a session's string (see layout.go).
//
// Late writes. Commit, Touch and Move get the caller's deadline (Unix
// milliseconds, "0" for none) and, before anything else, compare it with
// Redis' clock (TIME, allowed in a Redis 7 script since scripts replicate
// their effects): a write that reaches Redis after its caller gave up (a
// stalled link that thawed, a command resent after the deadline) changes
// nothing and replies codeLate. The check costs one redis.call, only for a
// call with a deadline.
//
// Expiry is Redis' own: the key expires at the record's expires (SET ...
// PXAT, PEXPIREAT). A key that exists is live by the server's clock, so the
// scripts never compare the record's times, but for a commit's LiveAt.
//
// The user index. A session's index entry is removed only by a write that
// saw the entry's score (the header's score, or the score ZRANGE returned):
// indexScript raises the score of an entry it re-adds above the one it had,
// so a removal that races a commit giving the session back to the same user
// finds another score and leaves the entry (see unindexScript).

// luaRecord begins the scripts that read a session's string:
//
//   - uv(s, i) reads the uvarint at index i of s, and returns it and the
//     index after it; field(s, i) reads the length-prefixed string there,
//     and the index after it; str(s) is s length-prefixed.
//   - valid(s) fails the script for a string that is not a session.
//
// ZT is the zero time, Z8 the score of a session that is not indexed.
//
// A script makes its functions anew on every call, and one that refers to
// another's local (an upvalue) costs redis-server several times what an
// empty one does (callgrind, Redis 7.0): so none of these refers to another,
// field repeats uv's loop, and the reading of a session (luaGet) is a block
// of each script rather than a function.
const luaRecord = `
local ZT, Z8 = '\128\0\0\0\0\0\0\0', '\0\0\0\0\0\0\0\0'
local function uv(s, i)
  local n, mul, c = 0, 1, 128
  while c >= 128 do
    c = string.byte(s, i)
    n, mul, i = n + (c % 128) * mul, mul * 128, i + 1
  end
  return n, i
end
local function field(s, i)
  local n, mul, c = 0, 1, 128
  while c >= 128 do
    c = string.byte(s, i)
    n, mul, i = n + (c % 128) * mul, mul * 128, i + 1
  end
  return string.sub(s, i, i + n - 1), i + n
end
local function str(s)
  local n = #s
  if n < 128 then return string.char(n) .. s end
  local t = {}
  while n >= 128 do t[#t + 1] = string.char(n % 128 + 128); n = math.floor(n / 128) end
  t[#t + 1] = string.char(n)
  return table.concat(t) .. s
end
local function valid(s)
  local k = string.byte(s, 1)
  if #s < 41 or (k ~= 114 and k ~= 116) then error('tether: not a session: ' .. #s .. ' bytes') end
end
`

// luaGet is the block of a script that reads the session of key into rec (a
// local the script declares):
// its string, or false if there is none. A hash of the previous layout (one
// field per value, "m:" fields for the metadata; GET answers WRONGTYPE) is
// read into the string it would be now (luaFromHash), which the script then
// writes in its place: a session written before an upgrade stays readable,
// and becomes a string at its first write.
const luaGet = `
rec = redis.pcall('GET', key)
if type(rec) == 'table' then
` + luaFromHash + `
elseif rec then
  valid(rec)
end
`

// luaFromHash sets rec to the session string of the hash under key, or
// false if it holds no session.
const luaFromHash = `
  local h = redis.call('HGETALL', key)
  local m, vs = {}, {}
  for i = 1, #h, 2 do
    if string.sub(h[i], 1, 2) == 'v:' then
      vs[#vs + 1] = str(string.sub(h[i], 3)) .. str(h[i + 1])
    else
      m[h[i]] = h[i + 1]
    end
  end
  rec = false
  if m['m:v'] then
    local head = {struct.pack('>i8', tonumber(m['m:v']))}
    for _, f in ipairs({'m:l', 'm:e', 'm:c'}) do
      if m[f] and m[f] ~= '' then head[#head + 1] = struct.pack('>i8', tonumber(m[f])) else head[#head + 1] = ZT end
    end
    if m['m:to'] then
      rec = 't' .. table.concat(head) .. Z8 .. str(m['m:to']) .. str(m['m:sealed'] or '') .. str(m['m:du'] or '')
    else
      local score = Z8
      if m['m:us'] then score = struct.pack('>i8', tonumber(m['m:us'])) end
      rec = 'r' .. table.concat(head) .. score .. str(m['m:u'] or '') .. str(m['m:a'] or '') .. table.concat(vs)
    end
  end
`

// commitScript applies a store.Change.
//
// The channel argument of every script is "" when writes do not publish
// (WithNotify(false)).
//
// ARGV: 1 the control block (below), 2 channel, 3 id, 4 user id (for a set
// user), 5 the expiry in Unix milliseconds for SET's PXAT ("" keeps the
// expiry), 6 the attributes, encoded, when the control block says they are
// replaced; then the deleted keys, then the key/value pairs to set. Deleted
// and set keys are disjoint (Go normalises the change).
//
// The control block packs the commit's flags and numbers into one binary
// argument (see [Store.commitControl]), read with one struct.unpack: in redis-server
// 7.0 each script argument costs about a thousand instructions (parsed,
// pushed into Lua, collected) and each tonumber of a 13-digit string about
// 2,500 (strtod), where the unpack of the whole block costs about 3,000
// (callgrind). Big-endian, in order: four bytes, 1 or 0, for create (sets the
// user), clear (update clearing the values first), set user and boost (raise
// the record's LFU counter, see below); the attributes' operation, one
// letter: "k" keeps them, "-" removes them, "=" replaces them by ARGV 6; two
// pairs of letters, one per header slot (last seen, expires; created,
// score), "s" to set it from the slots below and "k" to keep the record's;
// six 8-byte integers: the caller's deadline in Unix milliseconds (0:
// none), the change's LiveAt in ms (0: none; an Update of a record whose
// expiry is not after it is refused as missing), the size limit, the bytes
// the replacing attributes count for, the number of deleted keys, and the
// version step (see versionStep; 1 for a create); then the header's four
// slots (32 bytes).
//
// Every check (existence, tombstone, size) runs before the first write: a
// script is not rolled back, so a refused commit must not have written.
//
// The record is walked once: the pairs that do not change are copied in runs
// (a substring each), a changed value is written where the old one was, and
// new keys go at the end. The size limit counts what the walk finds, so the
// record keeps no count of its own. The attributes' size is their length
// less their length prefixes, found by walking those (a few short strings)
// when they are kept. Run twice (a resend after a lost reply), a commit
// rewrites the same pairs with the same values.
var commitScript = newScript(luaLate + luaRecord + `
local key, ctl = KEYS[1], ARGV[1]
local create, clear, setuser, boost, aop, a, b, deadline, liveat, limit, asize, ndel, step, sp =
  struct.unpack('>BBBBc1c2c2i8i8i8i8i8i8', ctl)
create, clear, setuser = create == 1, clear == 1, setuser == 1
local setfrom, nargs = 7 + ndel, #ARGV
if late(deadline) then return {6} end

local rec, ver, olduser, attrs, p = false, 0, '', '', 0
if create then
  if redis.call('EXISTS', key) == 1 then return {3} end
else
` + luaGet + `
  if not rec then return {1} end
  if string.sub(rec, 1, 1) == 't' then
    local to, i = field(rec, 42)
    return {2, to, (field(rec, i))}
  end
  if liveat ~= 0 and struct.unpack('>i8', rec, 18) <= liveat then return {1} end
  ver = struct.unpack('>i8', rec, 2)
  -- A call of a Lua function costs about as much as a redis.call of a
  -- small command, so the common case (a length under 128: one byte) is
  -- read inline here and in the walk below.
  local l = string.byte(rec, 42)
  if l < 128 then olduser, p = string.sub(rec, 43, 42 + l), 43 + l else olduser, p = field(rec, 42) end
  l = string.byte(rec, p)
  if l < 128 then attrs, p = string.sub(rec, p + 1, p + l), p + 1 + l else attrs, p = field(rec, p) end
end

local out, size = {'r', '', '', '', '', ''}, 0
local changed = {}
if rec and not clear then
  for i = 7, setfrom - 1 do changed[ARGV[i]] = 0 end
  for i = setfrom, nargs, 2 do changed[ARGV[i]] = i end
  local n, run = #rec, p
  while p <= n do
    local kl, q = string.byte(rec, p), p + 1
    if kl >= 128 then kl, q = uv(rec, p) end
    local k = string.sub(rec, q, q + kl - 1)
    local vl, r = string.byte(rec, q + kl), q + kl + 1
    if vl >= 128 then vl, r = uv(rec, q + kl) end
    local nx = r + vl
    local c = changed[k]
    if c then
      if p > run then out[#out + 1] = string.sub(rec, run, p - 1) end
      run = nx
      if c > 0 then
        local v = ARGV[c + 1]
        if kl < 128 and #v < 128 then
          out[#out + 1] = string.char(kl) .. k .. string.char(#v) .. v
        else
          out[#out + 1] = str(k) .. str(v)
        end
        size = size + kl + #v
        changed[k] = -1
      end
    else
      size = size + kl + vl
    end
    p = nx
  end
  if run <= n then out[#out + 1] = string.sub(rec, run, n) end
end
for i = setfrom, nargs, 2 do
  local k, v = ARGV[i], ARGV[i + 1]
  if changed[k] ~= -1 then
    if #k < 128 and #v < 128 then
      out[#out + 1] = string.char(#k) .. k .. string.char(#v) .. v
    else
      out[#out + 1] = str(k) .. str(v)
    end
    size = size + #k + #v
  end
end

if aop == '=' then
  attrs = ARGV[6]
  size = size + asize
elseif aop == '-' then
  attrs = ''
else
  -- Kept attributes count for their length less their length prefixes. A
  -- length past the end (corrupt attributes: Load reports them) counts what
  -- is left, so a commit that keeps them, or replaces them, still works.
  local i, n = 1, #attrs
  while i <= n do
    local l, mul, c = 0, 1, 128
    while c >= 128 do
      c = string.byte(attrs, i) or 0
      l, mul, i = l + (c % 128) * mul, mul * 128, i + 1
    end
    l = math.min(l, n - i + 1)
    size, i = size + l, i + l
  end
end
local user = olduser
if setuser then user = ARGV[4] end
if size + #user > limit then return {4, size + #user} end

-- Checks done; write.
ver = ver + step
-- The header: each of last seen, expires, created and score from the
-- control block's slots ('s') or kept ('k'), in the pairs a commit sets
-- together.
local slots = string.sub(ctl, sp)
if a == 'ss' then
  a = string.sub(slots, 1, 16)
elseif a == 'kk' then
  a = string.sub(rec, 10, 25)
elseif a == 'sk' then
  a = string.sub(slots, 1, 8) .. string.sub(rec, 18, 25)
else
  a = string.sub(rec, 10, 17) .. string.sub(slots, 9, 16)
end
if b == 'kk' then
  b = string.sub(rec, 26, 41)
elseif b == 'ss' then
  b = string.sub(slots, 17, 32)
elseif b == 'ks' then
  b = string.sub(rec, 26, 33) .. string.sub(slots, 25, 32)
else
  b = string.sub(slots, 17, 24) .. string.sub(rec, 34, 41)
end
out[2], out[3], out[4] = struct.pack('>i8', ver), a, b
if #user < 128 then out[5] = string.char(#user) .. user else out[5] = str(user) end
if #attrs < 128 then out[6] = string.char(#attrs) .. attrs else out[6] = str(attrs) end
if ARGV[5] ~= '' then
  redis.call('SET', key, table.concat(out), 'PXAT', ARGV[5])
else
  redis.call('SET', key, table.concat(out), 'KEEPTTL')
end
if boost == 1 then
  -- Under an LFU policy, a session that gets a user is given the highest
  -- access frequency (RESTORE ... FREQ, the only way to set it), so Redis
  -- evicts anonymous sessions (which start at 5) before it. The counter
  -- decays by one per idle minute, so this holds for about four hours of
  -- idleness. The string is copied once, at login. pcall: a server that
  -- refuses DUMP or RESTORE must not stop the script halfway through. The
  -- expiry goes back as it was, to the millisecond (ABSTTL; -1: none; -2:
  -- the key is gone already, its expiry in the past).
  local at = redis.call('PEXPIRETIME', key)
  if at ~= -2 then
    local dump = redis.pcall('DUMP', key)
    if type(dump) == 'string' then
      if at == -1 then
        redis.pcall('RESTORE', key, 0, dump, 'REPLACE', 'FREQ', 255)
      else
        redis.pcall('RESTORE', key, at, dump, 'REPLACE', 'ABSTTL', 'FREQ', 255)
      end
    end
  end
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
if setuser and not create then return {0, ver, olduser, string.sub(rec, 34, 41)} end
return ver
`)

// touchScript sets last seen and expires, and replies with the new version.
// It rewrites the header's 24 bytes of version, last seen and expires in
// place, whatever the session holds. ARGV: 1 channel, 2 id, 3 last seen and
// expires (16 bytes), 4 the expiry in Unix milliseconds for PEXPIREAT, 5 the
// caller's deadline, 6 the version step (see versionStep).
var touchScript = newScript(luaLate + luaRecord + `
local key = KEYS[1]
if late(ARGV[5]) then return {6} end
local rec, hash = redis.pcall('GETRANGE', key, 0, 40), false
if type(rec) == 'table' then
` + luaFromHash + `
  hash = true
end
if not rec or rec == '' then return {1} end
valid(rec)
if string.sub(rec, 1, 1) == 't' then
  if not hash then rec = redis.call('GET', key) end
  local to, i = field(rec, 42)
  return {2, to, (field(rec, i))}
end
local ver = struct.unpack('>i8', rec, 2) + ARGV[6]
if hash then
  redis.call('SET', key, 'r' .. struct.pack('>i8', ver) .. ARGV[3] .. string.sub(rec, 26), 'PXAT', ARGV[4])
else
  redis.call('SETRANGE', key, 1, struct.pack('>i8', ver) .. ARGV[3])
  redis.call('PEXPIREAT', key, ARGV[4])
end
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return ver
`)

// moveScript turns a record into a tombstone if its version is ARGV[3]
// ("0": any version).
// ARGV: 1 channel, 2 id, 3 version, 4 to, 5 sealed ("" forwards nothing), 6
// expires (8 bytes, as the header stores it), 7 the expiry in Unix
// milliseconds for PXAT, 8 the caller's deadline. The tombstone keeps created
// and last seen, and no user.
//
// A tombstone that already forwards to ARGV[4] is this Move's own, made by
// an earlier run whose reply was lost (the new ID is fresh and random, so no
// other Move names it): the script changes nothing and replies success, with
// the tombstone's version and no user to unindex. It is recognised before the
// deadline is checked, since it reports what was done, not a new write.
var moveScript = newScript(luaLate + luaRecord + `
local key, rec = KEYS[1], false
` + luaGet + `
if not rec then return {1} end
local ver = struct.unpack('>i8', rec, 2)
if string.sub(rec, 1, 1) == 't' then
  local to, i = field(rec, 42)
  if to == ARGV[4] then return {0, ver, '', ''} end
  if late(ARGV[8]) then return {6} end
  return {2, to, (field(rec, i))}
end
if late(ARGV[8]) then return {6} end
if ARGV[3] ~= '0' and ver ~= tonumber(ARGV[3]) then return {5} end
ver = ver + 1
-- DEL first: under noeviction a full server refuses a script's first write
-- that needs memory, and a rotation must not be refused for want of it.
redis.call('DEL', key)
redis.call('SET', key, 't' .. struct.pack('>i8', ver) .. string.sub(rec, 10, 17) .. ARGV[6] ..
  string.sub(rec, 26, 33) .. Z8 .. str(ARGV[4]) .. str(ARGV[5]) .. '\0', 'PXAT', ARGV[7])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return {0, ver, (field(rec, 42)), string.sub(rec, 34, 41)}
`)

// deleteScript deletes a record and returns its user id and index score
// ("" for none). ARGV: 1 channel, 2 id. It deletes what it cannot read too
// (a string that is not a session, a hash with corrupt fields): a logout
// must not fail for the state of what it removes.
var deleteScript = newScript(luaRecord + `
local key, user, score = KEYS[1], '', ''
local rec = redis.pcall('GET', key)
if type(rec) == 'table' then
  local m = redis.pcall('HMGET', key, 'm:u', 'm:us', 'm:to')
  if type(m) == 'table' and m[1] and not m[3] then
    user = m[1]
    local ok, packed = pcall(struct.pack, '>i8', tonumber(m[2] or '0') or 0)
    if ok then score = packed end
  end
elseif rec and #rec >= 42 and string.byte(rec, 1) == 114 then
  local ok, u = pcall(field, rec, 42)
  if ok then user, score = u, string.sub(rec, 34, 41) end
end
if redis.call('DEL', key) == 1 and ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return {user, score}
`)

// deleteIfUserScript ends a session if it belongs to user ARGV[3], and
// returns 1 if it did. A tombstone belongs to no one. The session becomes a
// tombstone that forwards nothing (to its own ID), as moveScript leaves one,
// with the record's expiry: a request in flight with its token then finds the
// session ended and drops its changes, where a missing key would read as
// expired and let a write-only request start a new session with them. A key
// in its last millisecond (PTTL 0) is deleted. The tombstone keeps the call's
// mark: the same call resent after its reply was lost finds it and counts the
// session it ended, where any other finds a session that is no longer the
// user's. ARGV: 1 channel, 2 id, 3 user, 4 the call's mark.
var deleteIfUserScript = newScript(luaRecord + `
local key, rec = KEYS[1], false
` + luaGet + `
if not rec then return 0 end
if string.sub(rec, 1, 1) == 't' then
  local to, i = field(rec, 42)
  local _, j = field(rec, i)
  if to == ARGV[2] and (field(rec, j)) == ARGV[4] then return 1 end
  return 0
end
if (field(rec, 42)) ~= ARGV[3] then return 0 end
local pttl = redis.call('PTTL', key)
-- DEL first: under noeviction a full server refuses a script's first write
-- that needs memory, and ending a session must not be refused for want of it.
redis.call('DEL', key)
if pttl ~= 0 then
  local t = 't' .. struct.pack('>i8', struct.unpack('>i8', rec, 2) + 1) .. string.sub(rec, 10, 33) ..
    Z8 .. str(ARGV[2]) .. '\0' .. str(ARGV[4])
  if pttl > 0 then redis.call('SET', key, t, 'PX', pttl) else redis.call('SET', key, t) end
end
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return 1
`)

// indexAddScript adds a session to a user index (a sorted set scored by the
// time of indexing, in milliseconds by this node's clock: see the user
// index's doc in users.go) and replies with the entry's score, followed,
// when the index has grown past ARGV[2] entries, by up to ARGV[3] of its
// entries older than ARGV[4] milliseconds and their scores, for the caller
// to check and prune. An entry that is already there gets a score above the
// one it had, even within one millisecond: a removal that read the old score
// then leaves it alone (see unindexScript). ARGV: 1 id, 2 threshold, 3
// sample size, 4 least age of the entries replied.
var indexAddScript = newScript(luaNow + `
local ms = now()
local s = ms
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= s then s = tonumber(cur) + 1 end
redis.call('ZADD', KEYS[1], s, ARGV[1])
if redis.call('ZCARD', KEYS[1]) <= tonumber(ARGV[2]) then return {s} end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (ms - tonumber(ARGV[4])), 'WITHSCORES', 'LIMIT', 0, ARGV[3])
return {s, unpack(old)}
`)

// unindexScript removes entries from a user index, each only if its score is
// still the one the caller saw and it is at least as old as the caller asks,
// by this node's clock, and returns how many it removed. A commit that gives
// the session back to the user meanwhile re-added the entry with a higher
// score (indexAddScript), so the removal of the old entry cannot take the
// new one with it: the index lives in another hash slot than the session,
// and no script can check the session itself. The age is judged here, by
// the clock that scored the entry, not by the caller's: an entry whose
// session the caller did not find may be one a commit indexed and has not
// written yet, and a caller whose clock runs a minute ahead would take it
// for an old one. ARGV: triples of id, score and least age in milliseconds
// (0: any age).
var unindexScript = newScript(luaNow + `
local ms = now()
local n = 0
for i = 1, #ARGV, 3 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) and (ARGV[i + 2] == '0' or tonumber(s) < ms - tonumber(ARGV[i + 2])) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
`)

// script is a Lua script that [Store.eval] runs on one key.
type script struct {
	src  string
	hash any // SHA1 hex of src, boxed once for EVALSHA
}

// luaNow begins the scripts that judge time by Redis' clock (TIME), not the
// caller's: now() is that clock in Unix milliseconds.
const luaNow = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// luaLate begins the scripts that refuse a write past the caller's deadline:
// late(d) reports whether the deadline d (Unix milliseconds, a number or a
// string; 0 or '0' for none) has passed by Redis' clock (TIME). It repeats
// now() rather than call it (see luaRecord).
const luaLate = `
local function late(d)
  if d == '0' or d == 0 then return false end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= tonumber(d)
end
`

func newScript(src string) *script {
	return &script{src: src, hash: redis.NewScript(src).Hash()}
}

// args begins the argument list of a call of sc on key, with room for argc
// ARGV entries to be appended: EVALSHA, the hash, one key, the key.
func (sc *script) args(key string, argc int) []any {
	args := make([]any, 4, 4+argc)
	args[0], args[1], args[2], args[3] = "evalsha", sc.hash, "1", key
	return args
}

// eval runs a call built by [script.args]: EVALSHA, and EVAL if the server
// does not have the script (NOSCRIPT: a restarted or new node). It is
// redis.Script.Run without its cost per call (a copy of the argument list,
// and the hash and keys boxed again): go-redis sends a Do's list as it is,
// and routes it by the key after the key count, as it does EVALSHA's.
func (s *Store) eval(ctx context.Context, sc *script, args []any) *redis.Cmd {
	cmd := s.client.Do(ctx, args...)
	if isNoScript(cmd.Err()) {
		args[0], args[1] = "eval", sc.src
		cmd = s.client.Do(ctx, args...)
	}
	return cmd
}
