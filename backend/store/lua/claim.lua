-- A representative accepts a waiting chat request: first come, first served, atomically.
-- KEYS, ARGV: see store/keys.py:claim() and store/scripts.py:Scripts.claim().
--#include slots
local r = redis.call('HMGET', KEYS[1], 'status', 'targets', 'created', 'arm', 'band')
if not r[1] then return cjson.encode({error = 'gone'}) end
if r[1] ~= 'waiting' then return cjson.encode({error = 'taken'}) end
if r[2] and r[2] ~= '' and r[2] ~= '*' then
  local allowed = false
  for _, rid in ipairs(cjson.decode(r[2])) do if rid == ARGV[2] then allowed = true end end
  if not allowed then return cjson.encode({error = 'not-offered'}) end
end
local cap = tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0')
local load = rep_load(KEYS[3], KEYS[6], ARGV[5], ARGV[2])
if load >= cap then return cjson.encode({error = 'full'}) end
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'status', 'active', 'rep', ARGV[2], 'accepted', now)
redis.call('HSET', KEYS[7], 'last_chat', now)  -- fairness: time since the rep's last chat
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('LPUSH', KEYS[5], now - tonumber(r[3]))
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1)
redis.call('SADD', KEYS[6], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
-- the day's funnel (KEYS[8], core/counters.py): chatted with a rep, by the band respond.lua copied
local arm, band = r[4] or 'treatment', r[5] or ''
redis.call('HINCRBY', KEYS[8], arm .. ':chatted', 1)
if band ~= '' then redis.call('HINCRBY', KEYS[8], arm .. ':' .. band .. ':chatted', 1) end
-- the rep's day (core/counters.py:rep_field): chats taken, and the customers' waits summed
redis.call('HINCRBY', KEYS[8], 'rep:' .. ARGV[2] .. ':chats', 1)
redis.call('HINCRBY', KEYS[8], 'rep:' .. ARGV[2] .. ':wait_ms', math.max(0, now - tonumber(r[3])))
redis.call('EXPIRE', KEYS[8], tonumber(ARGV[7]))
return cjson.encode({ok = true})
