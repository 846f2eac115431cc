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

// A session is one hash. Values are fields named "v:"+key; metadata fields
// begin with "m:", so no value key can reach them:
//
//	m:v       version, incremented by every write
//	m:u       user id (absent: none)
//	m:us      the score of the session's entry in m:u's index, when indexed
//	m:c m:l m:e  created, last seen, expires: Unix milliseconds
//	m:a       the attributes, one field (see attrs.go; absent: none)
//	m:n       bytes of value keys and values and of attribute keys and
//	          values, for the size limit
//	m:to      tombstone: the ID the session moved to
//	m:sealed  tombstone: the sealed new token
//
// Expiry is Redis' own: PEXPIREAT at m:e. A key that exists is live by the
// server's clock, so the scripts never compare the record's times.
//
// Late writes. Commit, Touch and Move get the caller's deadline (Unix
// milliseconds, "0" for none) and, before anything else, compare it with
// Redis' clock (TIME, allowed in a Redis 7 script since scripts replicate
// their effects): a write that reaches Redis after its caller gave up (a
// stalled link that thawed, a command resent after the deadline) changes
// nothing and replies codeLate. The check costs one redis.call, only for a
// call with a deadline.
//
// The user index. A session's index entry is removed only by a write that
// saw the entry's score (m:us, or the score ZRANGE returned): indexScript
// raises the score of an entry it re-adds above the one it had, so a removal
// that races a commit giving the session back to the same user finds another
// score and leaves the entry (see unindexScript).

// commitScript applies a store.Change.
//
// The channel argument of every script is "" when writes do not publish
// (WithNotify(false)).
//
// ARGV: 1 op: "c" (create; sets the user), "u" (update), "u,user" (update
// setting the user), "u,clear" or "u,clear,user" (update clearing the values
// first); 2 channel, 3 id, 4 user id (for a set user), 5 PEXPIREAT
// milliseconds ("" keeps the expiry), 6 size limit, 7 number of deleted
// fields, 8 one letter per metadata pair (its length is all the script
// reads), 9 the caller's deadline, 10 "1" to raise the record's LFU
// counter (see below), else "0", 11 the change's LiveAt in ms ("0": none;
// an Update of a record whose expiry is not after it is refused as
// missing), 12 the attributes: "" keeps them, "-" removes them, a number
// replaces them by the m:a among the metadata pairs, which count for that
// many bytes; then the deleted value fields, then the
// metadata pairs to set (m:c, m:l, m:e, m:u, m:us and m:a, as the caller
// chose), then the value field/value pairs to set. Value fields come with their "v:" prefix. Deleted and set fields
// are disjoint (Go normalises the change).
//
// Every check (existence, tombstone, size) runs before the first write: a
// script is not rolled back, so a refused commit must not have written.
//
// m:n counts the attributes too, so a commit that keeps them (nearly all)
// never reads m:a. One that replaces them, or clears the values (m:n then
// restarts from the attributes kept), reads it once and walks its length
// prefixes (attrBytesLua). Run twice (a resend after a lost reply), a
// replacement subtracts what the first run stored and adds the same again.
//
// The script is shaped by what redis-server spends on it (counted with
// callgrind, in instructions per call, on Redis 7.0): a redis.call costs as
// much as about six ARGV entries, turning a string into a number (tonumber)
// as much as three, a table returned as the reply more than a redis.call, and
// every element of a Lua table built or received (an HMGET's reply) about
// two. So the changed fields' sizes come from HSTRLEN (no dearer
// than folding them into the HMGET, and it never copies a large value into
// Lua), the HSET takes its pairs straight from ARGV with unpack, and a commit
// that does not change the user replies with the bare new version. Against
// the first version of this script (HSTRLEN in a closure, "v:" prefixes and
// the HSET's table made in Lua, a table reply) that is a fifth to a quarter
// less.
var commitScript = newScript(luaClock + `
local key, op = KEYS[1], ARGV[1]
local create = op == 'c'
local clear = op == 'u,clear' or op == 'u,clear,user'
local setuser = create or op == 'u,user' or op == 'u,clear,user'
local attrs = ARGV[12]
local first, nargs = 13, #ARGV
local metafrom = first
if ARGV[7] ~= '0' then metafrom = first + tonumber(ARGV[7]) end
local setfrom = metafrom + 2 * #ARGV[8]
if late(ARGV[9]) then return {6} end

local ver, size, olduser, oldscore = 0, 0, false, false
if create then
  if redis.call('EXISTS', key) == 1 then return {3} end
else
  local m = redis.call('HMGET', key, 'm:v', 'm:to', 'm:n', 'm:u', 'm:us', 'm:e')
  if not m[1] then return {1} end
  if m[2] then return {2, m[2], redis.call('HGET', key, 'm:sealed') or ''} end
  if ARGV[11] ~= '0' and m[6] and tonumber(m[6]) <= tonumber(ARGV[11]) then return {1} end
  ver, olduser, oldscore = tonumber(m[1]), m[4], m[5]
  local olda = 0
  if attrs ~= '' or clear then` + attrBytesLua + `  end
  if not clear then
    -- The bytes a changed field counts for now (key and value), 0 if it is
    -- absent. HEXISTS only for the rare empty (or absent) value.
    local function stored(f)
      local n = redis.call('HSTRLEN', key, f)
      if n > 0 or redis.call('HEXISTS', key, f) == 1 then return n + #f - 2 end
      return 0
    end
    size = tonumber(m[3]) or 0
    for i = first, metafrom - 1 do size = size - stored(ARGV[i]) end
    for i = setfrom, nargs, 2 do size = size - stored(ARGV[i]) end
    if attrs ~= '' then size = size - olda end
  elseif attrs == '' then
    size = olda
  end
end
for i = setfrom, nargs, 2 do size = size + #ARGV[i] - 2 + #ARGV[i + 1] end
if attrs ~= '' and attrs ~= '-' then size = size + tonumber(attrs) end
local user = olduser or ''
if setuser then user = ARGV[4] end
if size + #user > tonumber(ARGV[6]) then return {4, size + #user} end

-- Checks done; write. unpack is bounded by Lua's stack: chunks of 1000.
if clear then
  local vs = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'v:' then vs[#vs + 1] = f end
  end
  for i = 1, #vs, 1000 do
    redis.call('HDEL', key, unpack(vs, i, math.min(i + 999, #vs)))
  end
else
  for i = first, metafrom - 1, 1000 do
    redis.call('HDEL', key, unpack(ARGV, i, math.min(i + 999, metafrom - 1)))
  end
end
ver = ver + 1
if nargs - metafrom < 1000 then
  redis.call('HSET', key, 'm:v', ver, 'm:n', size, unpack(ARGV, metafrom))
else
  for i = metafrom, nargs, 1000 do
    redis.call('HSET', key, unpack(ARGV, i, math.min(i + 999, nargs)))
  end
  redis.call('HSET', key, 'm:v', ver, 'm:n', size)
end
if setuser and user == '' and olduser then redis.call('HDEL', key, 'm:u', 'm:us') end
if attrs == '-' and not create then redis.call('HDEL', key, 'm:a') end
if ARGV[10] == '1' then
  -- Under an LFU policy, a session that gets a user is given the highest
  -- access frequency (RESTORE ... FREQ, the only way to set it), so Redis
  -- evicts anonymous sessions (which start at 5) before it. The counter
  -- decays by one per idle minute, so this holds for about four hours of
  -- idleness. The hash is copied once, at login. pcall: a server that
  -- refuses DUMP or RESTORE must not stop the script halfway through.
  -- RESTORE's TTL 0 means none: a key with no TTL yet (a create; its
  -- PEXPIREAT follows) is restored with 0, but a key in its last millisecond
  -- (PTTL 0) would become persistent, so it keeps its counter instead.
  local pttl = redis.call('PTTL', key)
  if pttl ~= 0 then
    local dump = redis.pcall('DUMP', key)
    if type(dump) == 'string' then
      redis.pcall('RESTORE', key, math.max(pttl, 0), dump, 'REPLACE', 'FREQ', 255)
    end
  end
end
if ARGV[5] ~= '' then redis.call('PEXPIREAT', key, ARGV[5]) end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
if setuser and not create then return {0, ver, olduser or '', oldscore or ''} end
return ver
`)

// touchScript sets last seen and expires, and replies with the new version.
// ARGV: 1 channel, 2 id, 3 last seen, 4 expires, 5 PEXPIREAT milliseconds, 6
// the caller's deadline.
var touchScript = newScript(luaClock + `
local key = KEYS[1]
if late(ARGV[6]) then return {6} end
local m = redis.call('HMGET', key, 'm:v', 'm:to')
if not m[1] then return {1} end
if m[2] then return {2, m[2], redis.call('HGET', key, 'm:sealed') or ''} end
local ver = tonumber(m[1]) + 1
redis.call('HSET', key, 'm:v', ver, 'm:l', ARGV[3], 'm:e', ARGV[4])
redis.call('PEXPIREAT', key, ARGV[5])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return ver
`)

// moveScript turns a record into a tombstone if its version is ARGV[3]
// ("0": any version).
// ARGV: 1 channel, 2 id, 3 version, 4 to, 5 sealed ("" forwards nothing, and
// is not stored), 6 expires, 7 PEXPIREAT milliseconds, 8 the caller's
// deadline. The tombstone keeps created and last seen, and no user.
//
// A tombstone that already forwards to ARGV[4] is this Move's own, made by
// an earlier run whose reply was lost (the new ID is fresh and random, so no
// other Move names it): the script changes nothing and replies success, with
// the tombstone's version and no user to unindex. It is recognised before the
// deadline is checked, since it reports what was done, not a new write.
var moveScript = newScript(luaClock + `
local key = KEYS[1]
local m = redis.call('HMGET', key, 'm:v', 'm:to', 'm:sealed', 'm:u', 'm:c', 'm:l', 'm:us')
if not m[1] then return {1} end
if m[2] == ARGV[4] then return {0, tonumber(m[1]), '', ''} end
if late(ARGV[8]) then return {6} end
if m[2] then return {2, m[2], m[3] or ''} end
if ARGV[3] ~= '0' and m[1] ~= ARGV[3] then return {5} end
redis.call('DEL', key)
local ver = tonumber(m[1]) + 1
local args = {'m:v', ver, 'm:to', ARGV[4], 'm:e', ARGV[6]}
if ARGV[5] ~= '' then args[#args + 1] = 'm:sealed'; args[#args + 1] = ARGV[5] end
if m[5] then args[#args + 1] = 'm:c'; args[#args + 1] = m[5] end
if m[6] then args[#args + 1] = 'm:l'; args[#args + 1] = m[6] end
redis.call('HSET', key, unpack(args))
redis.call('PEXPIREAT', key, ARGV[7])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return {0, ver, m[4] or '', m[7] or ''}
`)

// deleteScript deletes a record and returns its user id and index score
// ("" for none). ARGV: 1 channel, 2 id.
var deleteScript = newScript(`
local m = redis.call('HMGET', KEYS[1], 'm:u', 'm:us')
if redis.call('DEL', KEYS[1]) == 1 and ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return {m[1] or '', m[2] or ''}
`)

// deleteIfUserScript ends a session if it belongs to user ARGV[3], and
// returns 1 if it did. A tombstone belongs to no one. The session becomes a
// tombstone that forwards nothing (m:to its own ID), as moveScript leaves
// one, with the record's expiry: a request in flight with its token then
// finds the session ended and drops its changes, where a missing key would
// read as expired and let a write-only request start a new session with
// them. A key in its last millisecond (PTTL 0) is deleted. The tombstone
// keeps the call's mark (m:du): the same call resent after its reply was
// lost finds it and counts the session it ended, where any other finds a
// session that is no longer the user's. ARGV: 1 channel, 2 id, 3 user, 4 the
// call's mark.
var deleteIfUserScript = newScript(`
local key = KEYS[1]
local m = redis.call('HMGET', key, 'm:u', 'm:v', 'm:c', 'm:l', 'm:e', 'm:to', 'm:du')
if m[1] ~= ARGV[3] then
  if m[6] == ARGV[2] and m[7] == ARGV[4] then return 1 end
  return 0
end
local pttl = redis.call('PTTL', key)
redis.call('DEL', key)
if pttl ~= 0 then
  local args = {'m:v', tonumber(m[2]) + 1, 'm:to', ARGV[2], 'm:du', ARGV[4]}
  if m[3] then args[#args + 1] = 'm:c'; args[#args + 1] = m[3] end
  if m[4] then args[#args + 1] = 'm:l'; args[#args + 1] = m[4] end
  if m[5] then args[#args + 1] = 'm:e'; args[#args + 1] = m[5] end
  redis.call('HSET', key, unpack(args))
  if pttl > 0 then redis.call('PEXPIRE', key, pttl) end
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
var indexAddScript = newScript(luaClock + `
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
var unindexScript = newScript(luaClock + `
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

// luaClock begins the scripts that judge time by Redis' clock (TIME), not
// the caller's: now() is that clock in Unix milliseconds, and late(d) reports
// whether the caller's deadline d (Unix milliseconds, '0' for none) has
// passed by it.
const luaClock = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function late(d) return d ~= '0' and now() >= tonumber(d) end
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
