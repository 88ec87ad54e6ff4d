package redis

import goredis "github.com/redis/go-redis/v9"

// The engine's Lua scripts. Each runs atomically in Redis, which is what
// makes offsets, history and fan-out order agree. go-redis runs them with
// EVALSHA and falls back to EVAL after a Redis restart emptied the script
// cache (NOSCRIPT means the script did not run, so the fallback never runs
// a publish twice). Every key a script touches, and the channel it
// publishes on, shares one hash tag (keys.go): Redis Cluster runs a script
// only within one slot.

// publishScript assigns the next offset of a stream, starting a new epoch
// when the stream has none (never published, or idle past its TTL), appends
// the publication to the bounded history, refreshes the TTLs and publishes
// it on the stream's partition channel, all at once: every node receives a
// stream's publications in offset order. Each redis.call costs about a
// microsecond of Redis's time: the history is trimmed only once it is
// longer than its size (the script cost 12.8 µs with LTRIM on every push,
// 11.8 µs without, redis-benchmark with 16-command pipelines).
//
// With a third key, the message id's key in the stream (keys.go), the
// message is idempotent: if the key exists, the id was published to the
// stream within the history TTL, and the script publishes nothing and
// returns the first publication's position; otherwise it publishes and
// sets the key, for the history TTL. Checking and recording in the script
// that publishes is what makes a retry safe: after a failure that
// published nothing the key is absent, and after a reply lost once the
// script had run, it is there.
//
// KEYS[1] stream state hash, KEYS[2] history list, KEYS[3] (optional) the
// message id's key.
// ARGV[1] epoch for a new stream, ARGV[2] history TTL ms, ARGV[3] history
// size, ARGV[4] partition channel, ARGV[5] expiry (8 bytes), ARGV[6] body.
// Returns {offset, epoch, number of subscribers that received it, 0}, or
// {first offset, first epoch, 0, 1} for a repeated id.
var publishScript = goredis.NewScript(`
if KEYS[3] then
  local first = redis.call('GET', KEYS[3])
  if first then
    return {struct.unpack('>I8', first), string.sub(first, 9), 0, 1}
  end
end
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
  if redis.call('RPUSH', KEYS[2], msg) > size then
    redis.call('LTRIM', KEYS[2], -size, -1)
  end
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if KEYS[3] then
  redis.call('SET', KEYS[3], struct.pack('>I8', off) .. epoch, 'PX', ttl)
end
local n = redis.call('SPUBLISH', ARGV[4], msg)
return {off, epoch, n, 0}
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
// At most ARGV[4] publications are returned (all when negative), the
// oldest first: a page of a long gap is one LRANGE of that page, and ok
// still answers for the whole gap.
//
// KEYS[1] stream state hash, KEYS[2] history list.
// ARGV[1] position offset, ARGV[2] position epoch, ARGV[3] now (unix µs),
// ARGV[4] limit.
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
if not alive(redis.call('LINDEX', KEYS[2], first)) then
  local older = {}
  if first > 0 then older = redis.call('LRANGE', KEYS[2], 0, first - 1) end
  local any = false
  for i = 1, #older do
    if alive(older[i]) then any = true break end
  end
  if not any then return {0, epoch, off, {}} end
end
local limit = tonumber(ARGV[4])
if limit == 0 then return {1, epoch, off, {}} end
local last = -1
if limit > 0 and limit < missed then last = first + limit - 1 end
return {1, epoch, off, redis.call('LRANGE', KEYS[2], first, last)}
`)

// membersScript adds users to a group, or removes them, and publishes the
// Control that tells every node, at once: on the group stream's partition
// channel, so that a node applies the change before any push to the group
// published after it.
//
// KEYS[1] group set. ARGV[1] '1' to add, else remove, ARGV[2] partition
// channel, ARGV[3] the Control, ARGV[4...] users. Returns the number of
// nodes that received the Control.
var membersScript = goredis.NewScript(`
local cmd = 'SREM'
if ARGV[1] == '1' then cmd = 'SADD' end
-- unpack is bounded by Lua's stack: a few hundred users per call.
for i = 4, #ARGV, 500 do
  redis.call(cmd, KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
return redis.call('SPUBLISH', ARGV[2], ARGV[3])
`)
