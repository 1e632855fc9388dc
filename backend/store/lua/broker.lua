-- Offer broker for one site: reserve representatives' slots for the most-needed visitors
-- whose page is still open, atomically, so one free slot never produces two offers.
-- KEYS, ARGV: see store/keys.py:broker() and store/scripts.py:Scripts.broker().
--#include slots
--#include present

local now = tonumber(ARGV[1])
local aht = tonumber(ARGV[3])
local acceptable = tonumber(ARGV[4])
local timeout = tonumber(ARGV[5])
local visitor_prefix, offer_prefix, cool_prefix = ARGV[6], ARGV[7], ARGV[8]
local cfg = cjson.decode(ARGV[9])
local live_ms, grace_ms, socket_ms = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])

-- With matching rule sets, slots are counted per pool of reps who may answer a visitor
-- (core/offer_pools.py, the twin of what follows: pools_used, pool_wait).
local pools = nil
if ARGV[17] ~= '' then pools = cjson.decode(ARGV[17]) end
local per_rep = {}
local s = count_slots(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], now, tonumber(ARGV[2]), ARGV[15],
                      ARGV[16], per_rep)
local capacity = s.capacity
local in_use = s.chats + s.offers + s.pending

-- Nothing to offer (nobody can answer in time, and no "leave a message"): stop before
-- looking at any visitor, so the frequent runs cost a few reads. Per pool, a free rep may
-- answer one visitor while the site as a whole is busy: only no capacity at all stops it.
local first_wait = estimate_wait(capacity, in_use, aht)
if pools then first_wait = (capacity > 0) and 0 or nil end
if (first_wait == nil or first_wait > acceptable) and not cfg.leave_message then return '{"made":[]}' end

local pool_cap, pool_used = {}, {}
local function take(pool)
  if pool == nil then
    for q = 1, #pool_used do pool_used[q] = pool_used[q] + 1 end
  else
    for _, q in ipairs(pools.overlap[pool]) do pool_used[q] = pool_used[q] + 1 end
  end
end
if pools then
  for p, members in ipairs(pools.members) do
    pool_cap[p], pool_used[p] = 0, 0
    for _, rid in ipairs(members) do
      local r = per_rep[rid]
      if r then
        pool_cap[p] = pool_cap[p] + r.capacity
        pool_used[p] = pool_used[p] + r.load
      end
    end
  end
  -- Offers out and requests waiting hold a slot of their visitor's pool (unknown: of every pool).
  for _, vid in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do take(pools.of[vid]) end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
    take(pools.of[redis.call('HGET', ARGV[16] .. id, 'vid') or ''])
  end
end

-- Eligible visitors, most needed first, then the longest waiting. The holdout (VisitorHash
-- arm, set by ingest.lua) never is: they are what the reports compare help against.
local candidates = {}
local needy = redis.call('ZREVRANGE', KEYS[7], 0, tonumber(ARGV[10]) - 1, 'WITHSCORES')
for i = 1, #needy, 2 do
  local vid = needy[i]
  local v = redis.call('HMGET', visitor_prefix .. vid, 'last', 'needy_at', 'cart', 'code_ok', 'visits', 'req', 'left',
    'arm', 'band')
  if not v[1] then
    redis.call('ZREM', KEYS[7], vid)  -- the visit expired
  elseif page_present(now, tonumber(v[1]), tonumber(v[7]), tonumber(redis.call('ZSCORE', KEYS[9], vid)),
                      live_ms, grace_ms, socket_ms)
      and redis.call('EXISTS', offer_prefix .. vid) == 0
      and redis.call('EXISTS', cool_prefix .. vid) == 0
      and not v[6]
      and v[8] ~= 'holdout'
      and tonumber(v[3] or '0') >= cfg.min_cart_value
      and (not cfg.require_access_code or v[4] == '1') then
    candidates[#candidates + 1] = {vid = vid, score = tonumber(needy[i + 1]),
      since = tonumber(v[2] or now), first = tonumber(v[5] or '0') == 0, band = v[9]}
  end
end
table.sort(candidates, function(a, b)
  if a.score ~= b.score then return a.score > b.score end
  if a.since ~= b.since then return a.since < b.since end
  return a.vid < b.vid
end)

local made = {}
for n, c in ipairs(candidates) do
  local pool = pools and pools.of[c.vid]
  local wait, kind
  if pools and not pool then
    wait = false  -- arrived after the pools were drawn: the next run sees them
  elseif pools then
    wait = estimate_wait(pool_cap[pool], pool_used[pool], aht)
  else
    wait = estimate_wait(capacity, in_use, aht)
  end
  if wait == false then
    kind = nil
  elseif wait ~= nil and wait <= acceptable then
    kind = 'help'
  elseif cfg.leave_message then
    kind = 'message'
  end
  if kind == nil and not pools then break end
  if kind then
    local deadline = now + timeout
    local id = ARGV[14] .. n
    local short = (cfg.short_for_first_visit and c.first) and 1 or 0
    redis.call('HSET', offer_prefix .. c.vid, 'id', id, 'kind', kind, 'variant', cfg.variant,
      'short', short, 'created', now, 'deadline', deadline, 'wait', wait or -1)
    redis.call('PEXPIREAT', offer_prefix .. c.vid, deadline + 60000)
    if kind == 'help' then
      redis.call('ZADD', KEYS[5], deadline, c.vid)
      in_use = in_use + 1
      if pools then take(pool) end
      -- the day's funnel (KEYS[10], core/counters.py): offered help, by need band
      redis.call('HINCRBY', KEYS[10], 'treatment:offered', 1)
      if c.band then redis.call('HINCRBY', KEYS[10], 'treatment:' .. c.band .. ':offered', 1) end
      redis.call('EXPIRE', KEYS[10], tonumber(ARGV[18]))
    end
    redis.call('ZADD', KEYS[8], deadline, c.vid)
    made[#made + 1] = {vid = c.vid, id = id, kind = kind, variant = cfg.variant, short = short == 1,
      deadline = deadline, wait = wait or -1}
  end
end
if #made == 0 then return '{"made":[]}' end
return cjson.encode({made = made})
