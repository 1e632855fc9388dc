-- Offer broker for one site: reserve representatives' slots for the most-needed visitors,
-- atomically, so one free slot never produces two offers.
-- The wait estimate is the twin of offers/policy.py:estimate_wait().
--
-- KEYS: 1 presence zset, 2 rep-status hash, 3 capacity hash, 4 load hash, 5 offers zset,
--       6 requests zset, 7 needy zset, 8 global deadlines zset
-- ARGV: 1 now (ms), 2 presence timeout (ms), 3 average handle time (s), 4 acceptable wait (s),
--       5 offer timeout (ms), 6 site key prefix ("bk:{site}:"), 7 site key, 8 settings JSON,
--       9 max candidates, 10 live window (ms), 11 offer id base

local now = tonumber(ARGV[1])
local aht = tonumber(ARGV[3])
local acceptable = tonumber(ARGV[4])
local timeout = tonumber(ARGV[5])
local prefix = ARGV[6]
local cfg = cjson.decode(ARGV[8])

local capacity, busy = 0, 0
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  if redis.call('HGET', KEYS[2], rid) == 'available' then
    capacity = capacity + tonumber(redis.call('HGET', KEYS[3], rid) or '0')
    busy = busy + tonumber(redis.call('HGET', KEYS[4], rid) or '0')
  end
end
local in_use = busy + redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6])

local function estimate_wait(cap, used)
  if cap <= 0 then return nil end
  if used < cap then return 0 end
  return (used - cap + 1) * aht / cap
end

-- Nothing to offer (nobody can answer in time, and no "leave a message"): stop before
-- looking at any visitor, so the frequent runs cost a few reads.
local first_wait = estimate_wait(capacity, in_use)
if (first_wait == nil or first_wait > acceptable) and not cfg.leave_message then return '[]' end

-- Eligible visitors, most needed first, then the longest waiting.
local candidates = {}
local needy = redis.call('ZREVRANGE', KEYS[7], 0, tonumber(ARGV[9]) - 1, 'WITHSCORES')
for i = 1, #needy, 2 do
  local vid = needy[i]
  local v = redis.call('HMGET', prefix .. 'v:' .. vid, 'last', 'needy_at', 'cart', 'code_ok', 'visits', 'req')
  if not v[1] then
    redis.call('ZREM', KEYS[7], vid)  -- the visit expired
  elseif tonumber(v[1]) >= now - tonumber(ARGV[10])
      and redis.call('EXISTS', prefix .. 'offer:' .. vid) == 0
      and redis.call('EXISTS', prefix .. 'cool:' .. vid) == 0
      and not v[6]
      and tonumber(v[3] or '0') >= cfg.min_cart_value
      and (not cfg.require_access_code or v[4] == '1') then
    candidates[#candidates + 1] = {vid = vid, score = tonumber(needy[i + 1]),
      since = tonumber(v[2] or now), first = tonumber(v[5] or '0') == 0}
  end
end
table.sort(candidates, function(a, b)
  if a.score ~= b.score then return a.score > b.score end
  if a.since ~= b.since then return a.since < b.since end
  return a.vid < b.vid
end)

local made = {}
for n, c in ipairs(candidates) do
  local wait = estimate_wait(capacity, in_use)
  local kind
  if wait ~= nil and wait <= acceptable then
    kind = 'help'
  elseif cfg.leave_message then
    kind = 'message'
  else
    break
  end
  local deadline = now + timeout
  local id = ARGV[11] .. n
  local short = (cfg.short_for_first_visit and c.first) and 1 or 0
  redis.call('HSET', prefix .. 'offer:' .. c.vid, 'id', id, 'kind', kind, 'variant', cfg.variant,
    'short', short, 'created', now, 'deadline', deadline, 'wait', wait or -1)
  redis.call('PEXPIREAT', prefix .. 'offer:' .. c.vid, deadline + 60000)
  if kind == 'help' then
    redis.call('ZADD', KEYS[5], deadline, c.vid)
    in_use = in_use + 1
  end
  redis.call('ZADD', KEYS[8], deadline, ARGV[7] .. ' ' .. c.vid)
  made[#made + 1] = {vid = c.vid, id = id, kind = kind, variant = cfg.variant, short = short == 1,
    deadline = deadline, wait = wait or -1}
end
if #made == 0 then return '[]' end
return cjson.encode(made)
