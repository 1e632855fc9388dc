-- Chat slots of one site: capacity of the representatives online and available, and the
-- slots in use (their chats, outstanding offers, waiting requests). The one definition,
-- used by the broker and the availability view; the wait it implies is the twin of
-- core/policy.py:estimate_wait().

-- A representative's load: their chats that still exist. A chat's parts expire together
-- (respond, claim and say give them one lifetime), and one that expired holds no slot: it
-- leaves the rep's list here, and the load hash is kept equal to what is left.
local function rep_load(loads, rep_chats, request_prefix, rid)
  local n = 0
  for _, id in ipairs(redis.call('SMEMBERS', rep_chats)) do
    local r = redis.call('HMGET', request_prefix .. id, 'status', 'rep')
    if r[1] == 'active' and r[2] == rid then n = n + 1 else redis.call('SREM', rep_chats, id) end
  end
  if tonumber(redis.call('HGET', loads, rid) or '0') ~= n then redis.call('HSET', loads, rid, n) end
  return n
end

-- Requests waiting for a representative, forgetting those that expired.
local function live_requests(requests, request_prefix)
  local n = 0
  for _, id in ipairs(redis.call('ZRANGE', requests, 0, -1)) do
    if redis.call('EXISTS', request_prefix .. id) == 1 then n = n + 1 else redis.call('ZREM', requests, id) end
  end
  return n
end

-- per_rep, when given, receives each available rep's {capacity, load}.
local function count_slots(presence, statuses, capacities, loads, offers, requests, now, presence_ms,
                           rep_chats_prefix, request_prefix, per_rep)
  local capacity, chats = 0, 0
  for _, rid in ipairs(redis.call('ZRANGEBYSCORE', presence, now - presence_ms, '+inf')) do
    if redis.call('HGET', statuses, rid) == 'available' then
      local cap = tonumber(redis.call('HGET', capacities, rid) or '0')
      local load = rep_load(loads, rep_chats_prefix .. rid, request_prefix, rid)
      capacity = capacity + cap
      chats = chats + load
      if per_rep then per_rep[rid] = {capacity = cap, load = load} end
    end
  end
  return {capacity = capacity, chats = chats, offers = redis.call('ZCARD', offers),
          pending = live_requests(requests, request_prefix)}
end

local AHT_FLOOR = 30  -- core/policy.py:AHT_FLOOR_S

local function estimate_wait(cap, used, aht)
  if cap <= 0 then return nil end
  if used < cap then return 0 end
  if aht < AHT_FLOOR then aht = AHT_FLOOR end
  return (used - cap + 1) * aht / cap
end
