-- A representative accepts a waiting chat request: first come, first served, atomically.
-- KEYS: 1 request hash, 2 requests zset, 3 load hash, 4 capacity hash, 5 accepted-waits list,
--       6 rep chats set
-- ARGV: 1 request id, 2 rep id, 3 now (ms), 4 samples kept
local r = redis.call('HMGET', KEYS[1], 'status', 'targets', 'created')
if not r[1] then return 'gone' end
if r[1] ~= 'waiting' then return 'taken' end
if r[2] and r[2] ~= '' and r[2] ~= '*' then
  local allowed = false
  for _, rid in ipairs(cjson.decode(r[2])) do if rid == ARGV[2] then allowed = true end end
  if not allowed then return 'not-offered' end
end
local cap = tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0')
local load = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
if load >= cap then return 'full' end
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'active', 'rep', ARGV[2], 'accepted', now)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('LPUSH', KEYS[5], now - tonumber(r[3]))
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1)
redis.call('SADD', KEYS[6], ARGV[1])
return 'ok'
