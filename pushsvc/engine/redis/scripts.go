package redis

import goredis "github.com/redis/go-redis/v9"

// The engine's Lua scripts. Each runs atomically in Redis, which is what
// makes offsets, history and fan-out order agree. go-redis runs them with
// EVALSHA and falls back to EVAL after a Redis restart emptied the script
// cache (NOSCRIPT means the script did not run, so the fallback never runs
// a publish twice).

// publishScript assigns the next offset of a stream, starting a new epoch
// when the stream has none (never published, or idle past its TTL), appends
// the publication to the bounded history, refreshes the TTLs and publishes
// it on the fan-out channel, all at once: every node receives a stream's
// publications in offset order.
//
// KEYS[1] stream state hash, KEYS[2] history list.
// ARGV[1] epoch for a new stream, ARGV[2] history TTL ms, ARGV[3] history
// size, ARGV[4] fan-out channel, ARGV[5] expiry (8 bytes), ARGV[6] body.
// Returns {offset, epoch, number of subscribers that received it}.
var publishScript = goredis.NewScript(`
local off = redis.call('HINCRBY', KEYS[1], 'o', 1)
local epoch
if off == 1 then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch)
  redis.call('DEL', KEYS[2])
else
  epoch = redis.call('HGET', KEYS[1], 'e')
  if not epoch then
    epoch = ARGV[1]
    redis.call('HSET', KEYS[1], 'e', epoch)
  end
end
local ttl = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
local msg = 'P' .. struct.pack('>I8', off) .. ARGV[5] .. string.char(#epoch) .. epoch .. ARGV[6]
local size = tonumber(ARGV[3])
if size > 0 then
  redis.call('RPUSH', KEYS[2], msg)
  redis.call('LTRIM', KEYS[2], -size, -1)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local n = redis.call('PUBLISH', ARGV[4], msg)
return {off, epoch, n}
`)

// sinceScript reads a stream's position and the publications after a
// position, with the same answers as the in-memory engine: not ok when the
// epoch differs, when a position without epoch is not the start, when the
// position is ahead of the stream, or when history no longer holds every
// missed publication. Expiry mirrors the in-memory engine's, which drops
// expired publications from the oldest end and stops at the first live
// one: the missed publications are all there when the oldest of them, or
// any publication before it, is still alive.
//
// KEYS[1] stream state hash, KEYS[2] history list.
// ARGV[1] position offset, ARGV[2] position epoch, ARGV[3] now (unix µs).
// Returns {ok (1 or 0), epoch, offset, {publications}}.
var sinceScript = goredis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'e', 'o')
local pos = tonumber(ARGV[1])
if not st[1] then
  if pos == 0 then return {1, '', 0, {}} end
  return {0, '', 0, {}}
end
local epoch, off = st[1], tonumber(st[2]) or 0
if (ARGV[2] ~= '' and ARGV[2] ~= epoch) or (ARGV[2] == '' and pos ~= 0) or pos > off then
  return {0, epoch, off, {}}
end
local missed = off - pos
if missed == 0 then return {1, epoch, off, {}} end
local n = redis.call('LLEN', KEYS[2])
if missed > n then return {0, epoch, off, {}} end
local now = tonumber(ARGV[3])
local function alive(m) return struct.unpack('>I8', m, 10) > now end
local first = n - missed
local window = redis.call('LRANGE', KEYS[2], first, -1)
if not alive(window[1]) then
  local older = {}
  if first > 0 then older = redis.call('LRANGE', KEYS[2], 0, first - 1) end
  local any = false
  for i = 1, #older do
    if alive(older[i]) then any = true break end
  end
  if not any then return {0, epoch, off, {}} end
end
return {1, epoch, off, window}
`)

// reapScript deletes a node's presence records and stats, unless the node
// is alive (its heartbeat key exists) or force is set: checking and
// deleting at once means a node that comes back between the janitor's look
// and its delete keeps its new records.
//
// KEYS[1] heartbeat key, KEYS[2] node presence hash, KEYS[3] stats key,
// KEYS[4] node set. ARGV[1] node id, ARGV[2] user presence key prefix (up
// to the brace), ARGV[3] '1' to force (a node clearing its previous life or
// leaving). The user presence keys are derived, not declared, which only
// standalone Redis allows.
var reapScript = goredis.NewScript(`
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local m = redis.call('HGETALL', KEYS[2])
for i = 1, #m, 2 do
  redis.call('HDEL', ARGV[2] .. m[i + 1] .. '}', m[i])
end
redis.call('DEL', KEYS[2], KEYS[3])
if ARGV[3] ~= '1' then redis.call('SREM', KEYS[4], ARGV[1]) end
return 1
`)
