-- Chat requests whose customer's page is gone end at once ('abandoned'): the slot they hold
-- goes back to the broker and representatives' queues drop them.
-- KEYS, ARGV: see store/keys.py:expire_requests() and store/scripts.py:Scripts.expire_requests().
--#include present

local now = tonumber(ARGV[1])
local request_prefix, visitor_prefix, msgs_prefix, cids_prefix = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local live_ms, grace_ms, socket_ms = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local retention = tonumber(ARGV[9])

local expired = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[10]) - 1)) do
  local r = redis.call('HMGET', request_prefix .. id, 'status', 'vid')
  local gone = r[1] ~= 'waiting'
  if not gone then
    local v = redis.call('HMGET', visitor_prefix .. r[2], 'last', 'left')
    gone = not page_present(now, tonumber(v[1]), tonumber(v[2]), tonumber(redis.call('ZSCORE', KEYS[2], r[2])),
                            live_ms, grace_ms, socket_ms)
  end
  if gone then
    redis.call('ZREM', KEYS[1], id)
    if r[1] == 'waiting' then
      redis.call('HSET', request_prefix .. id, 'status', 'ended', 'ended', now, 'ended_by', 'abandoned')
      redis.call('HDEL', visitor_prefix .. r[2], 'req')
      for _, k in ipairs({request_prefix .. id, msgs_prefix .. id, cids_prefix .. id}) do
        redis.call('EXPIRE', k, retention)
      end
      expired[#expired + 1] = id
    end
  end
end
if #expired == 0 then return '{"expired":[]}' end
return cjson.encode({expired = expired})
