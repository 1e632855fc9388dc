-- The customer answered an offer: 'accept' turns its reserved slot into a chat request,
-- 'dismiss' (or 'message', after leaving a message) frees it and starts the cool-down.
-- KEYS, ARGV: see store/keys.py:respond() and store/scripts.py:Scripts.respond().
local offer = redis.call('HMGET', KEYS[1], 'id', 'kind', 'created')
if offer[1] ~= ARGV[2] then return cjson.encode({error = 'gone'}) end
local now = tonumber(ARGV[4])
local action = ARGV[3]
if action == 'accept' and offer[2] ~= 'help' then return cjson.encode({error = 'kind'}) end
redis.call('LPUSH', KEYS[7], now - tonumber(offer[3]))
redis.call('LTRIM', KEYS[7], 0, tonumber(ARGV[8]) - 1)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[7])
if action ~= 'accept' then
  if tonumber(ARGV[5]) > 0 then redis.call('SET', KEYS[3], action, 'EX', ARGV[5]) end
  return cjson.encode({action = action})
end
local v = redis.call('HMGET', KEYS[8], 'score', 'reasons', 'url', 'arm', 'band')
-- only treatment is offered help; a visit from before the holdout has no arm and counts as it
local arm, band = v[4] or 'treatment', v[5] or ''
redis.call('HSET', KEYS[6], 'vid', ARGV[1], 'offer', ARGV[2], 'created', now, 'status', 'waiting',
  'score', v[1] or '0', 'reasons', v[2] or '[]', 'url', v[3] or '', 'targets', ARGV[11], 'arm', arm, 'band', band)
-- the day's funnel (KEYS[10], core/counters.py): accepted help, by need band
redis.call('HINCRBY', KEYS[10], arm .. ':accepted', 1)
if band ~= '' then redis.call('HINCRBY', KEYS[10], arm .. ':' .. band .. ':accepted', 1) end
redis.call('EXPIRE', KEYS[10], tonumber(ARGV[12]))
redis.call('EXPIRE', KEYS[6], tonumber(ARGV[10]))  -- the chat's lifetime; say.lua extends it
redis.call('ZADD', KEYS[5], now, ARGV[6])
redis.call('HSET', KEYS[8], 'req', ARGV[6])
redis.call('LPUSH', KEYS[9], ARGV[6])
redis.call('LTRIM', KEYS[9], 0, 99)
redis.call('EXPIRE', KEYS[9], 86400 * 30)
redis.call('EXPIRE', KEYS[8], tonumber(ARGV[9]))
return cjson.encode({action = 'accept', request = ARGV[6]})
