-- Chat slots of one site: capacity of the representatives online and available, and the
-- slots in use (their chats, outstanding offers, waiting requests). The one definition,
-- used by the broker and the availability view; the wait it implies is the twin of
-- core/policy.py:estimate_wait().
local function count_slots(presence, statuses, capacities, loads, offers, requests, now, presence_ms)
  local capacity, chats = 0, 0
  for _, rid in ipairs(redis.call('ZRANGEBYSCORE', presence, now - presence_ms, '+inf')) do
    if redis.call('HGET', statuses, rid) == 'available' then
      capacity = capacity + tonumber(redis.call('HGET', capacities, rid) or '0')
      chats = chats + tonumber(redis.call('HGET', loads, rid) or '0')
    end
  end
  return {capacity = capacity, chats = chats, offers = redis.call('ZCARD', offers),
          pending = redis.call('ZCARD', requests)}
end

local function estimate_wait(cap, used, aht)
  if cap <= 0 then return nil end
  if used < cap then return 0 end
  return (used - cap + 1) * aht / cap
end
