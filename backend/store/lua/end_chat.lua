-- End a chat (either side), or withdraw a request nobody accepted yet. Frees the rep's slot,
-- records the handle time, keeps the transcript for the retention period.
-- KEYS, ARGV: see store/keys.py:end_chat() and store/scripts.py:Scripts.end_chat().
--#include slots
--#include results
local r = redis.call('HMGET', KEYS[1], 'status', 'rep', 'accepted', 'rule_set', 'resolved', 'rating')
if not r[1] then return cjson.encode({error = 'gone'}) end
if r[1] == 'ended' then return cjson.encode({error = 'ended'}) end
local now = tonumber(ARGV[2])
if r[1] == 'active' then
  redis.call('SREM', KEYS[4], ARGV[1])
  rep_load(KEYS[3], KEYS[4], ARGV[7], r[2])
  redis.call('LPUSH', KEYS[5], now - tonumber(r[3]))
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[4]) - 1)
  -- the rep's day (KEYS[10], core/counters.py:rep_field): chats ended and their length summed
  redis.call('HINCRBY', KEYS[10], 'rep:' .. r[2] .. ':ended', 1)
  redis.call('HINCRBY', KEYS[10], 'rep:' .. r[2] .. ':handle_ms', math.max(0, now - tonumber(r[3])))
  redis.call('EXPIRE', KEYS[10], tonumber(ARGV[9]))
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'ended', 'ended', now, 'ended_by', ARGV[3])
local counted, success = false, false
if r[1] == 'active' and r[4] and r[4] ~= '' then  -- a routed chat counts in its rep's results (core/results.py:end)
  redis.call('HINCRBY', ARGV[8] .. redis.sha1hex(r[4]), r[2] .. ':chats', 1)
  counted = true
  success = count_success(KEYS[1], ARGV[8], 'ended', r[2], r[4], tonumber(r[6]) or 0, (r[5] or '') ~= '')
end
for _, i in ipairs({1, 6, 7}) do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[5])) end
redis.call('HDEL', KEYS[8], 'req')
if tonumber(ARGV[6]) > 0 then redis.call('SET', KEYS[9], 'chatted', 'EX', ARGV[6]) end
return cjson.encode({ok = true, was = r[1], chat = counted, success = success})
