package redis

import goredis "github.com/redis/go-redis/v9"

// The event log's scripts, and the presence scripts that append to it.
// Each partition's log is a Redis stream, ev:{P}, beside a meta hash,
// evm:{P}, holding the log's epoch in the partition (e), the sequence of
// its last event (n) and that event's millisecond (ms). An event's stream
// id is <ms>-<seq>: ms is Redis's clock, never going backwards within the
// partition, so ids order the events and roughly date them; seq counts
// the partition's events one by one, so that a reader can tell from the
// first entry it reads after its cursor whether any was trimmed in
// between (Redis 7.0 does not record the ids that trimming removes). The epoch, drawn
// at the partition's first use, changes when Redis loses the partition's
// data: a cursor of the old log is then refused, not read on silently.
//
// A user's presence hash and online mark carry the hash tag of the user's
// partition, so that the presence scripts change presence and append the
// events it makes in one atomic step: a user's events are in the log in
// the order their changes happened in Redis, whichever nodes made them,
// and each change makes its events once.

// evAppendLua is the function every appending script starts with:
// evappend(log stream, meta hash, epoch for a new log, MAXLEN, max age in
// ms, {{field, value, ...}, ...}) appends the events, in order, trimming
// the log to about MAXLEN entries and, when max age is positive, to the
// entries of the last max age. The meta is read and written once per
// call, not per event: a batch of 1,000 undelivered events costs 5.6 us
// of Redis time per event, and each takes about 92 bytes of Redis memory
// (INFO commandstats and used_memory over 100 such batches).
const evAppendLua = `
local function evappend(ev, meta, epoch, maxlen, maxage, events)
  if #events == 0 then return end
  redis.call('HSETNX', meta, 'e', epoch)
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local m = redis.call('HMGET', meta, 'ms', 'n')
  local last = tonumber(m[1] or '0')
  if ms < last then ms = last end
  local n = tonumber(m[2] or '0')
  -- No event yet in this epoch: entries left in the stream are another
  -- epoch's (its meta was lost alone), and their ids could be above ours.
  if n == 0 then redis.call('DEL', ev) end
  for i = 1, #events do
    n = n + 1
    redis.call('XADD', ev, 'MAXLEN', '~', maxlen, string.format('%d-%d', ms, n), unpack(events[i]))
  end
  redis.call('HSET', meta, 'ms', string.format('%d', ms), 'n', string.format('%d', n))
  if tonumber(maxage) > 0 and ms > tonumber(maxage) then
    redis.call('XTRIM', ev, 'MINID', '~', string.format('%d-0', ms - tonumber(maxage)))
  end
end
`

// Event fields in the log's entries. Only those an event has are written.
const (
	fKind        = "k"  // engine.EventKind, decimal
	fAt          = "t"  // unix ms, the recording node's clock
	fNode        = "n"  // the recording node
	fUser        = "u"  // user id
	fSession     = "s"  // session id
	fSessionNode = "sn" // the session's node
	fCode        = "c"  // close code
	fReason      = "r"  // close reason
	fDuration    = "d"  // ms
	fMessage     = "m"  // message id
	fStream      = "st" // stream
	fOffset      = "o"  // offset in the stream
	fTopic       = "tp" // topic
	fWhy         = "w"  // engine.UndeliveredReason, decimal
)

// registerScript writes a connection's record into its user's presence
// hash. When the record is new it appends Connected, preceded by Online
// when the user had no other record: the online mark, set to the
// connection's start, is what says the log has the user online. A record
// written again (a group change, or a rewrite after Redis lost it while
// this one stayed) appends nothing.
//
// KEYS[1] user presence hash, KEYS[2] online mark, KEYS[3] log stream,
// KEYS[4] log meta.
// ARGV[1] session id, ARGV[2] record, ARGV[3] epoch for a new log,
// ARGV[4] MAXLEN, ARGV[5] max age ms, ARGV[6] the events' time (ms, node
// clock: when the connection opened), ARGV[7] recording node, ARGV[8]
// user, ARGV[9] connected at (ms), the online mark if it is the first.
// Returns 1 when the record is new, else 0.
var registerScript = goredis.NewScript(evAppendLua + `
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local evs = {}
if redis.call('SET', KEYS[2], ARGV[9], 'NX') then
  evs[#evs + 1] = {'k', '1', 't', ARGV[6], 'n', ARGV[7], 'u', ARGV[8]}
end
evs[#evs + 1] = {'k', '3', 't', ARGV[6], 'n', ARGV[7], 'u', ARGV[8], 's', ARGV[1], 'sn', ARGV[7]}
evappend(KEYS[3], KEYS[4], ARGV[3], ARGV[4], ARGV[5], evs)
return 1
`)

// unregisterScript removes a connection's record from its user's presence
// hash. When it was there it appends Disconnected (its duration from the
// record's "ms"), followed by Offline (how long since the online mark)
// when it was the user's last record and the log has the user online.
// Only the call that removes the record appends, so several nodes reaping
// the same dead node's connections at once append each change once.
//
// KEYS as registerScript's.
// ARGV[1] session id, ARGV[2] epoch for a new log, ARGV[3] MAXLEN,
// ARGV[4] max age ms, ARGV[5] now (ms, node clock), ARGV[6] recording
// node, ARGV[7] the session's node, ARGV[8] user, ARGV[9] close code,
// ARGV[10] close reason.
// Returns 1 when the record was there, else 0.
var unregisterScript = goredis.NewScript(evAppendLua + `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local at = tonumber(ARGV[5])
local since = at
local ok, c = pcall(cjson.decode, rec)
if ok and type(c) == 'table' and tonumber(c.ms) then since = tonumber(c.ms) end
local evs = {{'k', '4', 't', ARGV[5], 'n', ARGV[6], 'u', ARGV[8], 's', ARGV[1], 'sn', ARGV[7],
  'c', ARGV[9], 'r', ARGV[10], 'd', string.format('%d', math.max(at - since, 0))}}
if redis.call('HLEN', KEYS[1]) == 0 then
  local on = redis.call('GET', KEYS[2])
  if on then
    redis.call('DEL', KEYS[2])
    evs[2] = {'k', '2', 't', ARGV[5], 'n', ARGV[6], 'u', ARGV[8], 'c', ARGV[9],
      'd', string.format('%d', math.max(at - tonumber(on), 0))}
  end
end
evappend(KEYS[3], KEYS[4], ARGV[2], ARGV[3], ARGV[4], evs)
return 1
`)

// appendScript appends events a node recorded (delivery events, and the
// presence events of a node without a shared registry) to one partition.
//
// KEYS[1] log stream, KEYS[2] log meta.
// ARGV[1] epoch for a new log, ARGV[2] MAXLEN, ARGV[3] max age ms, then
// per event the number of its field strings followed by them.
var appendScript = goredis.NewScript(evAppendLua + `
local evs = {}
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local f = {}
  for j = 1, n do f[j] = ARGV[i + j] end
  evs[#evs + 1] = f
  i = i + n + 1
end
evappend(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], evs)
return 1
`)
