-- One atomic round trip per batch: rate limits, fold the events into visitor state, score.
-- The pure-Python twin is backend/scoring.py (fold + decide); keep the two in step.
--
-- KEYS, ARGV: see store/keys.py:ingest() and store/scripts.py:Scripts.ingest().

local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])

-- Rate limits (fixed one-minute windows). A refused batch changes nothing else.
local retry = 60 - math.floor(now / 1000) % 60
local nv = redis.call('INCR', KEYS[9])
if nv == 1 then redis.call('EXPIRE', KEYS[9], 61) end
local ni = redis.call('INCR', KEYS[10])
if ni == 1 then redis.call('EXPIRE', KEYS[10], 61) end
if nv > tonumber(ARGV[3]) or ni > tonumber(ARGV[4]) then
  return cjson.encode({error = 'limited', retry = retry})
end

local rules_raw = redis.call('GET', KEYS[7])
local rules = cjson.decode(rules_raw or ARGV[6])
local events = cjson.decode(ARGV[5])
local trail_max = tonumber(ARGV[7])
local errors_max = tonumber(ARGV[8])
local fields_max = tonumber(ARGV[9])
local slack = tonumber(ARGV[11])

local v = KEYS[1]
local state = redis.call('HMGET', v, 'page_n', 'page_ms', 'field_max', 'errors', 'visits', 'cart', 'svc',
  'flagged', 'first', 'page_at', 'hbs')
local function num(i) return tonumber(state[i] or '0') or 0 end

local page_n = num(1)
local page_ms = num(2)
local field_max = num(3)
local errors = num(4)
local visits = num(5)
local cart = num(6)
local svc = state[7] or ''
local flagged = num(8)
local first = state[9]
local page_at = tonumber(state[10] or now) or now
local hbs = num(11)
local left = nil

-- Time on the page by the server's clock bounds what the browser claims (plus one batch's
-- delay): a crafted batch cannot claim an hour of dwell.
local function bounded(ms, spent)
  local room = now - page_at + slack - spent
  if room < 0 then room = 0 end
  if ms > room then return room end
  return ms
end

for _, ev in ipairs(events) do
  local t = ev.t
  if t == 'pv' then
    page_n = page_n + 1
    page_ms = 0
    page_at = now
    hbs = 0
    left = false
    svc = ''
    redis.call('HSET', KEYS[5], page_n, 0)
    redis.call('HDEL', KEYS[5], page_n - trail_max)
    if ev.visits and ev.visits > visits then visits = ev.visits end
    redis.call('RPUSH', KEYS[2], cjson.encode({n = page_n, url = ev.url, title = ev.title or '',
      ref = ev.ref or '', ts = now}))
    redis.call('LTRIM', KEYS[2], -trail_max, -1)
    redis.call('HSET', v, 'url', ev.url, 'title', ev.title or '')
    -- a page that does not say its language leaves the one known from earlier pages
    if ev.lang and ev.lang ~= '' then redis.call('HSET', v, 'lang', ev.lang) end
  elseif t == 'hb' then
    hbs = hbs + 1
  elseif t == 'bye' then
    left = now
  elseif t == 'dwell' then
    local ms = bounded(ev.ms, page_ms)
    page_ms = page_ms + ms
    if page_n > 0 and ms > 0 then redis.call('HINCRBY', KEYS[5], page_n, ms) end
  elseif t == 'field' then
    local known = redis.call('HEXISTS', KEYS[3], ev.name) == 1
    if known or redis.call('HLEN', KEYS[3]) < fields_max then
      local total = redis.call('HINCRBY', KEYS[3], ev.name, bounded(ev.ms, 0))
      if total > field_max then field_max = total end
    end
  elseif t == 'err' then
    errors = errors + 1
    redis.call('RPUSH', KEYS[4], cjson.encode({field = ev.field, kind = ev.kind, msg = ev.msg or '',
      n = page_n, ts = now}))
    redis.call('LTRIM', KEYS[4], -errors_max, -1)
  elseif t == 'svc' then
    svc = ev.point
  elseif t == 'cart' then
    cart = ev.value
    redis.call('HSET', v, 'currency', ev.currency)
  elseif t == 'code' then
    if ev.ok then redis.call('HSET', v, 'code_ok', 1) end
  elseif t == 'id' then
    -- A signed identity replaces whoever was claimed before it: an id or e-mail left by an
    -- earlier unsigned call must not ride on this signature (it covers the id, else the e-mail)
    if ev.verified then
      for _, k in ipairs({'id', 'email'}) do
        if not ev[k] or ev[k] == '' then redis.call('HDEL', KEYS[12], k) end
      end
    end
    for _, k in ipairs({'id', 'email', 'name', 'area'}) do
      if ev[k] and ev[k] ~= '' then redis.call('HSET', KEYS[12], k, ev[k]) end
    end
    -- 1: signed by the site; 0: unsigned where the site requires signing; else not said
    if ev.verified then redis.call('HSET', KEYS[12], 'verified', 1)
    elseif ev.trusted == false then redis.call('HSET', KEYS[12], 'verified', 0)
    else redis.call('HDEL', KEYS[12], 'verified') end
    -- Only an identity the site vouches for (signed, where the site requires it) is taken as
    -- the flagged customer it claims to be.
    if ev.trusted ~= false and ((ev.id and ev.id ~= '' and redis.call('SISMEMBER', KEYS[8], ev.id) == 1)
      or (ev.email and ev.email ~= '' and redis.call('SISMEMBER', KEYS[8], ev.email) == 1)) then
      flagged = 1
    end
  end
end

-- Decide: the same arithmetic, in the same order, as scoring.decide().
local function round6(x) return math.floor(x * 1e6 + 0.5) / 1e6 end
local values = {
  page_dwell = page_ms / 1000, field_dwell = field_max / 1000, form_errors = errors,
  return_visits = visits, cart_value = cart,
}
local order = {'page_dwell', 'field_dwell', 'form_errors', 'return_visits', 'service_point',
  'cart_value', 'flagged_customer'}
local total = 0
local reasons = {}
for _, name in ipairs(order) do
  local rule = rules.rules[name]
  if rule then
    local value, rs
    if values[name] ~= nil then
      value = values[name]
      if value > 0 then rs = math.min(1, value / rule.threshold) else rs = 0 end
    elseif name == 'service_point' then
      value = svc
      rs = 0
      if svc ~= '' then
        local points = rule.points
        if type(points) ~= 'table' or #points == 0 then
          rs = 1
        else
          for _, p in ipairs(points) do if p == svc then rs = 1 end end
        end
      end
    else
      value = (flagged == 1)
      if flagged == 1 then rs = 1 else rs = 0 end
    end
    if rs > 0 then
      local contribution = rule.weight * rs
      total = total + contribution
      if type(value) == 'number' then value = round6(value) end
      reasons[#reasons + 1] = {rule = name, value = value, threshold = rule.threshold,
        score = round6(rs), contribution = round6(contribution), fired = rs >= 1}
    end
  end
end
local score = round6(total)
local needs = score >= rules.threshold
local reasons_json = '[]'
if #reasons > 0 then reasons_json = cjson.encode(reasons) end

redis.call('HSET', v, 'page_n', page_n, 'page_ms', page_ms, 'field_max', field_max,
  'errors', errors, 'visits', visits, 'cart', cart, 'svc', svc, 'flagged', flagged,
  'score', score, 'needs', needs and 1 or 0, 'reasons', reasons_json, 'last', now, 'page_at', page_at,
  'hbs', hbs)
if not first then redis.call('HSET', v, 'first', now) end
-- A batch ending in a goodbye marks the page as leaving; any other batch means a page is there.
if left then redis.call('HSET', v, 'left', left) else redis.call('HDEL', v, 'left') end
for i = 1, 5 do redis.call('EXPIRE', KEYS[i], ttl) end
redis.call('EXPIRE', KEYS[12], ttl)
redis.call('ZADD', KEYS[6], now, ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - ttl * 1000)
local newly = false  -- just started needing help: the broker should look at once
if needs then
  redis.call('ZADD', KEYS[11], score, ARGV[10])
  if redis.call('HSETNX', v, 'needy_at', now) == 1 then newly = true end
else
  redis.call('ZREM', KEYS[11], ARGV[10])
  redis.call('HDEL', v, 'needy_at')
end
-- The holdout (core/counters.py:arm and band, the twins): decided once a visit, when the
-- visitor first needs help, by the visitor's id alone; counted in the day's funnel (KEYS[14])
-- with the need band of that moment. A holdout visitor is scored as anyone; the broker skips them.
local counter_ttl = tonumber(ARGV[16])
if needs and redis.call('HEXISTS', v, 'arm') == 0 then
  local arm = 'treatment'
  local hashed = tonumber(string.sub(redis.sha1hex(ARGV[14] .. ':' .. ARGV[10]), 1, 8), 16)
  if hashed / 4294967296 < tonumber(ARGV[15]) then arm = 'holdout' end
  local ratio = score / rules.threshold
  local band = 'b1'
  if ratio >= 2.0 then band = 'b3' elseif ratio >= 1.5 then band = 'b2' end
  redis.call('HSET', v, 'arm', arm, 'band', band)
  -- kept past the visit, for an order days later (domain/attribution.py): the arm and band
  -- of this need, and when it began
  -- The struggles and the page of this need, for the reports per reason and per page: the
  -- scoring rules that fired, and the page's path (no query, at most 100 characters).
  local names = {}
  for _, r in ipairs(reasons) do names[#names + 1] = r.rule end
  local path = string.sub(string.match(redis.call('HGET', v, 'url') or '', '^%a[%w+.-]*://[^/?#]*([^?#]*)') or '',
                          1, 100)
  if path == '' then path = '/' end
  redis.call('DEL', KEYS[16])
  redis.call('HSET', KEYS[16], 'arm', arm, 'band', band, 'at', now, 'reasons', table.concat(names, ','),
             'path', path)
  redis.call('EXPIRE', KEYS[16], tonumber(ARGV[17]))
  redis.call('HINCRBY', KEYS[14], arm .. ':needing', 1)
  redis.call('HINCRBY', KEYS[14], arm .. ':' .. band .. ':needing', 1)
  for _, name in ipairs(names) do redis.call('HINCRBY', KEYS[14], 'reason:' .. name .. ':' .. arm .. ':needing', 1) end
  redis.call('EXPIRE', KEYS[14], counter_ttl)
  -- pages in a hash of their own (KEYS[17]), at most PAGES_MAX of them a day (core/counters.py)
  local page_field = arm .. ':needing:' .. path
  if redis.call('HEXISTS', KEYS[17], page_field) == 1 or redis.call('HLEN', KEYS[17]) < tonumber(ARGV[18]) then
    redis.call('HINCRBY', KEYS[17], page_field, 1)
    redis.call('EXPIRE', KEYS[17], counter_ttl)
  end
end
-- the day's distinct visitors (KEYS[15]): made, and given its lifetime, by the day's first
if redis.call('PFADD', KEYS[15], ARGV[10]) == 1 and redis.call('TTL', KEYS[15]) < 0 then
  redis.call('EXPIRE', KEYS[15], counter_ttl)
end
-- What the page needs back: a pending offer (the heartbeat is the push fallback), and
-- whether the visitor is worth a live connection (half-way to needing help, or more, or in a
-- chat: the page's chat pop-up lives on that connection).
-- All of that only to the page holding the visitor's token: the first contact of a visit is
-- given a fresh one (ARGV[13]); later batches get it back only when they present it
-- (ARGV[12]), so knowing a visitor id is not enough to act as that visitor.
local tok = nil
if redis.call('HSETNX', v, 'tok', ARGV[13]) == 1 then
  tok = ARGV[13]
elseif ARGV[12] ~= '' and redis.call('HGET', v, 'tok') == ARGV[12] then
  tok = ARGV[12]
end
-- The visitor's open request or chat: its representative is told the customer moved on.
local req = redis.call('HGET', v, 'req')
local out = {score = string.format('%.17g', score), needs = needs, newly = newly, watch = false,
  reasons = reasons_json, chat = req or nil}
if tok then
  out.tok = tok
  local offer = redis.call('HMGET', KEYS[13], 'id', 'kind', 'variant', 'short', 'deadline')
  out.watch = score >= rules.threshold / 2 or offer[1] ~= false or req ~= false
  if offer[1] then
    out.offer = {id = offer[1], kind = offer[2], variant = offer[3], short = offer[4] == '1',
      deadline = tonumber(offer[5])}
  end
end
return cjson.encode(out)
