/**
 * Lua scripts: each touches the keys of one channel only (one hash tag), so they run atomically
 * on a single Redis, and on a Cluster in the channel's slot. Only commands that Redis 7, Valkey
 * and DragonflyDB share.
 *
 * A publication is stored and sent as `offset|epoch|json`, so the script can stamp the offset
 * it assigns without parsing JSON.
 */

/**
 * KEYS: meta, history, idempotency key, latest values (hash event → entry), their update order
 *       (zset event → rank).
 * ARGV: epoch candidate, payload json, history size, history ttl ms, idempotency ttl ms,
 *       ephemeral (0/1), idle retention ms, pub/sub channel, sharded (0/1), has key (0/1),
 *       latest max events (0: not kept as latest), latest ttl ms, event, then compaction: the
 *       run's first offset (0: none), its last, its epoch, the text every entry of the stream
 *       holds (its marker's start), and the payload json with `covers`.
 * Returns [1, "offset|epoch"] when published, [0, "offset|epoch"] for a repeated key.
 *
 * Compaction (a stream's end replacing its chunks): only when the end gets the run's last offset
 * plus one in the run's epoch, in this same script, so nothing can slip in between. The run's
 * entries still kept are then the list's tail; each must be the stream's own, or none is dropped.
 *
 * A latest value is written in the same script as its offset, so the two never disagree. Ranks
 * only grow (the highest plus one), so the lowest is the least recently updated event: the one
 * evicted when the channel has more names than it keeps.
 */
export const PUBLISH = `
local meta, hist, idem = KEYS[1], KEYS[2], KEYS[3]
if ARGV[10] == '1' then
  local seen = redis.call('GET', idem)
  if seen then return {0, seen} end
end
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
local offset
if ARGV[6] == '1' then
  offset = tonumber(redis.call('HGET', meta, 'offset'))
else
  offset = redis.call('HINCRBY', meta, 'offset', 1)
end
local size, ttl, keep = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[7])
local payload = ARGV[2]
local from, to = tonumber(ARGV[14]), tonumber(ARGV[15])
if from > 0 and ARGV[6] ~= '1' and size > 0 and ttl > 0 and offset == to + 1 and epoch == ARGV[16] then
  local tail = redis.call('LRANGE', hist, from - to - 1, -1)
  local drop, own = 0, true
  for i = #tail, 1, -1 do
    local entry = tail[i]
    if tonumber(string.sub(entry, 1, string.find(entry, '|', 1, true) - 1)) < from then break end
    if not string.find(entry, ARGV[17], 1, true) then
      own = false
      break
    end
    drop = drop + 1
  end
  if own then
    if drop > 0 then redis.call('LTRIM', hist, 0, -drop - 1) end
    payload = ARGV[18]
  end
end
local encoded = offset .. '|' .. epoch .. '|' .. payload
if ARGV[6] ~= '1' and size > 0 and ttl > 0 then
  redis.call('RPUSH', hist, encoded)
  redis.call('LTRIM', hist, -size, -1)
  redis.call('PEXPIRE', hist, ttl)
  redis.call('HSET', meta, 'ttl', ttl)
end
if ttl > keep then keep = ttl end
if redis.call('PTTL', meta) < keep then redis.call('PEXPIRE', meta, keep) end
if ARGV[9] == '1' then
  redis.call('SPUBLISH', ARGV[8], encoded)
else
  redis.call('PUBLISH', ARGV[8], encoded)
end
if ARGV[10] == '1' then redis.call('SET', idem, offset .. '|' .. epoch, 'PX', ARGV[5]) end
local most = tonumber(ARGV[11])
if most > 0 then
  local last, order = KEYS[4], KEYS[5]
  local top = redis.call('ZREVRANGE', order, 0, 0, 'WITHSCORES')
  local rank = 1
  if top[2] then rank = tonumber(top[2]) + 1 end
  redis.call('HSET', last, ARGV[13], encoded)
  redis.call('ZADD', order, rank, ARGV[13])
  local over = redis.call('ZCARD', order) - most
  if over > 0 then
    local evicted = redis.call('ZPOPMIN', order, over)
    for i = 1, #evicted, 2 do redis.call('HDEL', last, evicted[i]) end
  end
  redis.call('PEXPIRE', last, ARGV[12])
  redis.call('PEXPIRE', order, ARGV[12])
end
return {1, offset .. '|' .. epoch}
`;

/**
 * KEYS: meta, history. ARGV: epoch candidate, idle retention ms.
 * Returns [offset, epoch, history ttl ms, entries...]. Creates the channel's epoch if missing,
 * so a position read now can be recovered against later.
 */
export const READ = `
local meta = KEYS[1]
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', meta, 'epoch', epoch, 'offset', 0)
end
if redis.call('PTTL', meta) < tonumber(ARGV[2]) then redis.call('PEXPIRE', meta, ARGV[2]) end
local result = {redis.call('HGET', meta, 'offset'), epoch, redis.call('HGET', meta, 'ttl') or '0'}
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do table.insert(result, entry) end
return result
`;

/** KEYS: latest values, their update order. Returns the entries, least recently updated first. */
export const LATEST = `
local result = {}
for _, event in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local entry = redis.call('HGET', KEYS[1], event)
  if entry then table.insert(result, entry) end
end
return result
`;

/** KEYS: meta. Returns [offset, epoch], nils when the channel is not stored (lost or lapsed). */
export const POSITION = `
return redis.call('HMGET', KEYS[1], 'offset', 'epoch')
`;

/**
 * KEYS: meta, history. ARGV: the epoch seen rolled back, a new epoch.
 * A node found offsets handed out twice in this epoch (Redis restored from an older snapshot, a
 * lagging replica promoted): start a new epoch so nobody recovers against the reused offsets.
 * Only if nobody fenced it already. Returns the channel's epoch after.
 */
export const FENCE = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch == ARGV[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'offset', 0)
  redis.call('DEL', KEYS[2])
  return ARGV[2]
end
return epoch
`;

/** KEYS: members hash, expiry zset. ARGV: connection, member json, expires at ms, key ttl ms. */
export const PRESENCE_ADD = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
-- The keys outlive their longest-lived member; one short entry must not cut the others short.
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
`;

/** KEYS: members hash, expiry zset. ARGV: now ms. Drops lapsed members, returns the rest. */
export const PRESENCE_LIST = `
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, connection in ipairs(lapsed) do redis.call('HDEL', KEYS[1], connection) end
if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1]) end
return redis.call('HVALS', KEYS[1])
`;

/** KEYS: meta. ARGV: idle retention ms. Keeps a live channel's epoch from lapsing while idle. */
export const TOUCH = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl ~= -2 and ttl < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return ttl
`;
