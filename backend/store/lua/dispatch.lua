-- Who sees a waiting chat request: rank the site's representatives from their stored facts
-- and write the request's targets for its dispatch stage, atomically (the twin of
-- core/dispatch.py with core/matching.py:rank, through lua/lib/rank.lua).
-- action: 'route' (a new request, stage 0, with the spec Python chose), 'escalate' (its
-- escalation time passed: the next stage), 'left' (a targeted rep went away or offline: the
-- next stage at once), 'refresh' (rank again at the same stage: a rep came online).
-- KEYS, ARGV: see store/keys.py:dispatch() and store/scripts.py:Scripts.dispatch().
--#include rank

local WHY_MAX = 50  -- core/dispatch.py:WHY_MAX
local req_id, now, presence_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rep_prefix = ARGV[4]
local action = ARGV[5]
local accr_prefix = ARGV[11]  -- a rep's accreditations (store/keys.py:accreditations), less the id

local req = redis.call('HMGET', KEYS[1], 'status', 'targets', 'stage', 'match', 'must_contact')
if req[1] ~= 'waiting' then
  redis.call('ZREM', KEYS[2], req_id)
  return '{"error":"gone"}'
end
local spec_json = ARGV[6]
if action ~= 'route' then spec_json = req[4] end
if not spec_json or spec_json == '' then
  redis.call('ZREM', KEYS[2], req_id)
  return '{"error":"unranked"}'
end
local spec = cjson.decode(spec_json)

local function json_table(raw)
  if not raw or raw == '' then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value end
  return nil
end

local stage = tonumber(req[3] or '0') or 0
local previous = {}
if action == 'route' then
  stage = 0
else
  if req[2] and req[2] ~= '*' then previous = json_table(req[2]) or {} end
  if action == 'escalate' then
    local due = tonumber(redis.call('ZSCORE', KEYS[2], req_id))
    if not due or due > now then return '{"error":"not-due"}' end
    stage = stage + 1
  elseif action == 'left' then
    local had = false
    for _, rid in ipairs(previous) do if rid == ARGV[8] then had = true end end
    if not had then return '{"error":"untouched"}' end
    stage = stage + 1
  end
end

-- The facts of the reps who could take it. Presence, statuses and loads are read once for
-- the site; a rep's own keys only for one present, available, active, on duty and with a free
-- slot, and of those only what the rule set reads (a rule or filter that cannot tell reps
-- apart for this session reads nothing). A rep left out here is one rank_reps would filter out.
local off_duty = {}
for _, rid in ipairs(cjson.decode(ARGV[7])) do off_duty[rid] = true end
local s = spec.session
local uses = {}
for _, rule in ipairs(spec.rules) do uses[rule[1]] = true end
local need_skills = uses.skill and s.product ~= ''
local need_languages = (uses.language or spec.filters.language) and s.language ~= ''
local need_areas = uses.area and s.area ~= ''
local need_accr = (uses.accreditation or spec.filters.accredited) and s.product ~= ''
-- Each present rep's status, load and capacity, as arrays beside the ids (HMGET, not HGETALL
-- into a table: half the strings, no table to build).
local present = redis.call('ZRANGEBYSCORE', KEYS[3], now - presence_ms, '+inf')
local statuses, loads, capacities = {}, {}, {}
for first = 1, #present, 4000 do  -- unpack() has a limit on its arguments
  local last = math.min(first + 3999, #present)
  for k, key in ipairs({KEYS[4], KEYS[5], KEYS[6]}) do
    local got = redis.call('HMGET', key, unpack(present, first, last))
    local into = ({statuses, loads, capacities})[k]
    for j = 1, #got do into[first + j - 1] = got[j] end
  end
end
local reps = {}
for i, rid in ipairs(present) do
  local load = tonumber(loads[i]) or 0
  -- the site's capacities hold active reps only (domain/reps.py): a full one costs no read
  local listed = tonumber(capacities[i])
  if statuses[i] == 'available' and not (spec.filters.on_schedule and off_duty[rid])
      and listed and load < listed then
    local h = redis.call('HMGET', rep_prefix .. rid, 'active', 'capacity', 'last_chat', 'skills', 'languages',
                        'areas', 'area')
    local rep = {id = rid, active = h[1] == '1', status = 'available', load = load, capacity = 3, skills = {},
                 languages = {}, areas = {}, accreditations = {}, chats = 0, successes = 0,
                 on_duty = not off_duty[rid]}
    local cap = tonumber(h[2])
    if cap and cap >= 1 and cap <= 20 and cap == math.floor(cap) then rep.capacity = cap end
    local ok = rep.active and rep.load < rep.capacity
    if ok and need_accr then
      -- Held now: "level expires_ms ...", an expired one ignored (core/accreditation.py:levels)
      local raw = redis.call('HGET', accr_prefix .. rid, s.product)
      local level, expires = string.match(raw or '', '^(%d%d?) (%d+)')
      level, expires = tonumber(level), tonumber(expires)
      if level and level >= 1 and level <= MAX_LEVEL and now < expires then rep.accreditations[s.product] = level end
      ok = not spec.filters.accredited or rep.accreditations[s.product] ~= nil
    end
    if ok and need_languages then
      rep.languages = json_table(h[5]) or {}
      ok = not spec.filters.language or language_score(rep, s.language) > 0
    end
    if ok then
      if need_skills then
        local skills = json_table(h[4]) or {}
        if skills[1] ~= nil then  -- the old list of names: proficiency 3 (core/rep_profile.py:DEFAULT_LEVEL)
          for _, name in ipairs(skills) do rep.skills[name] = 3 end
        else
          for name, level in pairs(skills) do rep.skills[name] = tonumber(level) or 0 end
        end
      end
      if need_areas then rep.areas = json_table(h[6]) or ((h[7] and h[7] ~= '') and {string.upper(h[7])} or {}) end
      local last = tonumber(h[3])  -- the last chat accepted or taken over (lua/claim.lua, lua/transfer.lua)
      if last then rep.since = math.max(0, now - last) / 1000 end
      reps[#reps + 1] = rep
    end
  end
end

-- Results: of the rule set, in store/keys.py:results (ARGV[10], its prefix), read at once for
-- the reps left (the hash holds every rep who ever chatted under the rule set).
if uses.results and #reps > 0 then
  local fields = {}
  for i, rep in ipairs(reps) do fields[2 * i - 1], fields[2 * i] = rep.id .. ':chats', rep.id .. ':ok' end
  local got = {}
  for first = 1, #fields, 4000 do  -- unpack() has a limit on its arguments
    local part = redis.call('HMGET', ARGV[10] .. redis.sha1hex(spec.name),
                            unpack(fields, first, math.min(first + 3999, #fields)))
    for j, v in ipairs(part) do got[first + j - 1] = v end
  end
  for i, rep in ipairs(reps) do
    rep.chats, rep.successes = tonumber(got[2 * i - 1]) or 0, tonumber(got[2 * i]) or 0
  end
end

local ranked = rank_reps(spec, reps)
local count, final = offered_count(spec.dispatch, stage, #ranked)
local keep = {}
for i = 1, count do keep[ranked[i].id] = true end
for _, rid in ipairs(previous) do keep[rid] = true end
local targets, why = {}, {}
for _, r in ipairs(ranked) do
  if keep[r.id] then
    targets[#targets + 1] = r.id
    -- the first WHY_MAX targets are told why (core/dispatch.py:WHY_MAX)
    if #targets <= WHY_MAX then why[r.id] = {score = r.score, top = top_parts(spec, r, 3)} end
  end
end
local targets_json = '[]'
if #targets > 0 then targets_json = cjson.encode(targets) end
local why_json = '{}'
if #targets > 0 then why_json = cjson.encode(why) end

local at = ''
local must = req[5] == '1' or spec.dispatch.must_contact == true
if must and req[5] ~= '1' then redis.call('HSET', KEYS[1], 'must_contact', 1) end  -- the rule set's: shown, alerted
if not final or must or #ranked == 0 then
  at = string.format('%d', math.floor(now + spec.dispatch.escalate_after_s * 1000))
  redis.call('ZADD', KEYS[2], at, req_id)
else
  redis.call('ZREM', KEYS[2], req_id)
end
redis.call('HSET', KEYS[1], 'targets', targets_json, 'stage', stage, 'rule_set', spec.name, 'match', spec_json,
  'why', why_json)

local out = {targets = targets_json, stage = stage, final = final, escalate_at = at,
             changed = targets_json ~= req[2]}
if ARGV[9] == '1' then  -- the whole ranking, exact, for the twin test
  local function exact(x) return string.format('%.17g', x) end
  local rows = {}
  for i, r in ipairs(ranked) do
    local parts = {}
    for j, p in ipairs(parts_of(spec, r.rep)) do parts[j] = {p[1], exact(p[2]), exact(p[3]), exact(p[4])} end
    rows[i] = {id = r.id, score = exact(r.score), parts = parts}
  end
  out.ranked = rows
end
return cjson.encode(out)
