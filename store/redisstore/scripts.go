package redisstore

import "github.com/redis/go-redis/v9"

// The scripts run atomically on the node that holds their one key (KEYS[1]),
// so every check and write of an operation is one step, and Cluster-safe.
// Their reply begins with a status code:
const (
	codeOK       = 0 // followed by the new version (and, for some, the old user id)
	codeNotFound = 1 // no live record
	codeMoved    = 2 // a tombstone; followed by m:to and m:sealed
	codeExists   = 3 // a create found the id in use
	codeTooLarge = 4 // followed by the size the record would have had
	codeConflict = 5 // a version check failed
)

// A session is one hash. Values are fields named "v:"+key; metadata fields
// begin with "m:", so no value key can reach them:
//
//	m:v       version, incremented by every write
//	m:u       user id (absent: none)
//	m:c m:l m:e  created, last seen, expires: Unix milliseconds
//	m:n       bytes of value keys and values, for the size limit
//	m:to      tombstone: the ID the session moved to
//	m:sealed  tombstone: the sealed new token
//
// Expiry is Redis' own: PEXPIREAT at m:e. A key that exists is live by the
// server's clock, so the scripts never compare times.

// commitScript applies a store.Change.
//
// The channel argument of every script is "" when writes do not publish
// (WithNotify(false)).
//
// ARGV: 1 mode ("c" create, "u" update), 2 channel, 3 id, 4 clear ("1"),
// 5 set user ("1"), 6 user id, 7 created, 8 last seen, 9 expires ("" keeps
// the stored one on update), 10 PEXPIREAT milliseconds ("" keeps), 11 size
// limit, 12 number of deleted keys, then the deleted keys, then key/value
// pairs to set. Deleted and set keys are disjoint (Go normalises the change).
//
// Every check (existence, tombstone, size) runs before the first write: a
// script is not rolled back, so a refused commit must not have written.
var commitScript = redis.NewScript(`
local key = KEYS[1]
local create = ARGV[1] == 'c'
local clear = ARGV[4] == '1'
local setuser = ARGV[5] == '1'
local ndel = tonumber(ARGV[12])
local first = 13
local setfrom = first + ndel

local ver, size, olduser = 0, 0, false
if create then
  if redis.call('EXISTS', key) == 1 then return {3} end
else
  local m = redis.call('HMGET', key, 'm:v', 'm:to', 'm:sealed', 'm:n', 'm:u')
  if not m[1] then return {1} end
  if m[2] then return {2, m[2], m[3] or ''} end
  ver, olduser = tonumber(m[1]), m[5]
  if not clear then size = tonumber(m[4]) or 0 end
end

-- stored returns the bytes a value field counts for now (key and value), 0 if
-- it is absent. HEXISTS only for the rare empty value.
local function stored(f)
  local n = redis.call('HSTRLEN', key, f)
  if n > 0 or redis.call('HEXISTS', key, f) == 1 then return n + #f - 2 end
  return 0
end
local fresh = create or clear
if not fresh then
  for i = first, setfrom - 1 do size = size - stored('v:' .. ARGV[i]) end
end
for i = setfrom, #ARGV, 2 do
  if not fresh then size = size - stored('v:' .. ARGV[i]) end
  size = size + #ARGV[i] + #ARGV[i + 1]
end
local user = olduser or ''
if setuser then user = ARGV[6] end
if size + #user > tonumber(ARGV[11]) then return {4, size + #user} end

-- Checks done; write.
local function hdel(fields)
  for i = 1, #fields, 1000 do
    redis.call('HDEL', key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end
if clear then
  local vs = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, 2) == 'v:' then vs[#vs + 1] = f end
  end
  hdel(vs)
elseif ndel > 0 then
  local vs = {}
  for i = first, setfrom - 1 do vs[#vs + 1] = 'v:' .. ARGV[i] end
  hdel(vs)
end

local args = {}
for i = setfrom, #ARGV, 2 do
  args[#args + 1] = 'v:' .. ARGV[i]
  args[#args + 1] = ARGV[i + 1]
  if #args >= 1000 then
    redis.call('HSET', key, unpack(args))
    args = {}
  end
end
ver = ver + 1
args[#args + 1] = 'm:v'; args[#args + 1] = ver
args[#args + 1] = 'm:n'; args[#args + 1] = size
if create and ARGV[7] ~= '' then args[#args + 1] = 'm:c'; args[#args + 1] = ARGV[7] end
if ARGV[8] ~= '' then args[#args + 1] = 'm:l'; args[#args + 1] = ARGV[8] end
if ARGV[9] ~= '' then args[#args + 1] = 'm:e'; args[#args + 1] = ARGV[9] end
if setuser and user ~= '' then args[#args + 1] = 'm:u'; args[#args + 1] = user end
redis.call('HSET', key, unpack(args))
if setuser and user == '' and olduser then redis.call('HDEL', key, 'm:u') end
if ARGV[10] ~= '' then redis.call('PEXPIREAT', key, ARGV[10]) end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return {0, ver, olduser or ''}
`)

// touchScript sets last seen and expires. ARGV: 1 channel, 2 id, 3 last seen,
// 4 expires, 5 PEXPIREAT milliseconds.
var touchScript = redis.NewScript(`
local key = KEYS[1]
local m = redis.call('HMGET', key, 'm:v', 'm:to', 'm:sealed')
if not m[1] then return {1} end
if m[2] then return {2, m[2], m[3] or ''} end
local ver = redis.call('HINCRBY', key, 'm:v', 1)
redis.call('HSET', key, 'm:l', ARGV[3], 'm:e', ARGV[4])
redis.call('PEXPIREAT', key, ARGV[5])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return {0, ver}
`)

// moveScript turns a record into a tombstone if its version is ARGV[3].
// ARGV: 1 channel, 2 id, 3 version, 4 to, 5 sealed, 6 expires, 7 PEXPIREAT
// milliseconds. The tombstone keeps created and last seen, and no user.
var moveScript = redis.NewScript(`
local key = KEYS[1]
local m = redis.call('HMGET', key, 'm:v', 'm:to', 'm:sealed', 'm:u', 'm:c', 'm:l')
if not m[1] then return {1} end
if m[2] then return {2, m[2], m[3] or ''} end
if m[1] ~= ARGV[3] then return {5} end
redis.call('DEL', key)
local ver = tonumber(m[1]) + 1
local args = {'m:v', ver, 'm:to', ARGV[4], 'm:sealed', ARGV[5], 'm:e', ARGV[6]}
if m[5] then args[#args + 1] = 'm:c'; args[#args + 1] = m[5] end
if m[6] then args[#args + 1] = 'm:l'; args[#args + 1] = m[6] end
redis.call('HSET', key, unpack(args))
redis.call('PEXPIREAT', key, ARGV[7])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return {0, ver, m[4] or ''}
`)

// deleteScript deletes a record and returns its user id ("" if none).
// ARGV: 1 channel, 2 id.
var deleteScript = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'm:u')
if redis.call('DEL', KEYS[1]) == 1 and ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return u or ''
`)

// deleteIfUserScript deletes a session if it belongs to user ARGV[3], and
// returns 1 if it did. A tombstone belongs to no one. ARGV: 1 channel, 2 id,
// 3 user.
var deleteIfUserScript = redis.NewScript(`
local u = redis.call('HGET', KEYS[1], 'm:u')
if u ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return 1
`)

// indexAddScript adds a session to a user index (a sorted set scored by the
// time of indexing, in milliseconds) and, when the index has grown past
// ARGV[3] entries, returns up to ARGV[4] of its entries indexed before
// ARGV[5], with their scores, for the caller to check and prune. ARGV: 1
// score, 2 id, 3 threshold, 4 sample size, 5 cut-off score.
var indexAddScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) <= tonumber(ARGV[3]) then return {} end
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5], 'WITHSCORES', 'LIMIT', 0, ARGV[4])
`)
