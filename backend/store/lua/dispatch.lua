-- Who sees a waiting chat request: rank the site's representatives from their stored facts
-- and write the request's targets for its dispatch stage, atomically (the twin of
-- core/dispatch.py with core/matching.py:rank, through lua/lib/rank.lua).
-- action: 'route' (a new request, stage 0, with the spec Python chose), 'escalate' (its
-- escalation time passed: the next stage), 'left' (a targeted rep went away or offline: the
-- next stage at once), 'refresh' (rank again at the same stage: a rep came online).
-- KEYS, ARGV: see store/keys.py:dispatch() and store/scripts.py:Scripts.dispatch().
--#include rank

local req_id, now, presence_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local rep_prefix, rep_chats_prefix, request_prefix = ARGV[4], ARGV[5], ARGV[6]
local action = ARGV[7]
local accr_prefix = ARGV[13]  -- a rep's accreditations (store/keys.py:accreditations), less the id

local req = redis.call('HMGET', KEYS[1], 'status', 'targets', 'stage', 'match', 'must_contact')
if req[1] ~= 'waiting' then
  redis.call('ZREM', KEYS[2], req_id)
  return '{"error":"gone"}'
end
local spec_json = ARGV[8]
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
    for _, rid in ipairs(previous) do if rid == ARGV[10] then had = true end end
    if not had then return '{"error":"untouched"}' end
    stage = stage + 1
  end
end

-- The facts of every rep; the dearer ones (profile, chats, results) only for those available.
-- Results: of the rule set, in store/keys.py:results (ARGV[12], its prefix).
local results_key = ARGV[12] .. redis.sha1hex(spec.name)
local off_duty = {}
for _, rid in ipairs(cjson.decode(ARGV[9])) do off_duty[rid] = true end
local reps = {}
for _, rid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local h = redis.call('HMGET', rep_prefix .. rid, 'active', 'capacity', 'skills', 'languages', 'areas', 'area',
                      'last_chat')
  local seen = tonumber(redis.call('ZSCORE', KEYS[4], rid))
  local rep = {id = rid, active = h[1] == '1', status = 'offline', load = 0, capacity = 3, skills = {},
               languages = {}, areas = {}, accreditations = {}, chats = 0, successes = 0,
               on_duty = not off_duty[rid]}
  if rep.active and seen and seen >= now - presence_ms then
    rep.status = redis.call('HGET', KEYS[5], rid) or 'away'
  end
  if rep.status == 'available' then
    local cap = tonumber(h[2])
    if cap and cap >= 1 and cap <= 20 and cap == math.floor(cap) then rep.capacity = cap end
    local skills = json_table(h[3]) or {}
    if skills[1] ~= nil then  -- the old list of names: proficiency 3 (core/rep_profile.py:DEFAULT_LEVEL)
      for _, name in ipairs(skills) do rep.skills[name] = 3 end
    else
      for name, level in pairs(skills) do rep.skills[name] = tonumber(level) or 0 end
    end
    rep.languages = json_table(h[4]) or {}
    rep.areas = json_table(h[5]) or ((h[6] and h[6] ~= '') and {string.upper(h[6])} or {})
    -- Accreditations held now: "level expires_ms ...", expired ones ignored (core/accreditation.py:levels)
    local accr = redis.call('HGETALL', accr_prefix .. rid)
    for i = 1, #accr, 2 do
      local level, expires = string.match(accr[i + 1], '^(%d%d?) (%d+)')
      level, expires = tonumber(level), tonumber(expires)
      if level and level >= 1 and level <= MAX_LEVEL and now < expires then rep.accreditations[accr[i]] = level end
    end
    local last = tonumber(h[7])  -- the last chat accepted (lua/claim.lua), held now or not
    local res = redis.call('HMGET', results_key, rid .. ':chats', rid .. ':ok')
    rep.chats, rep.successes = tonumber(res[1]) or 0, tonumber(res[2]) or 0
    for _, id in ipairs(redis.call('SMEMBERS', rep_chats_prefix .. rid)) do
      local r = redis.call('HMGET', request_prefix .. id, 'status', 'rep', 'accepted')
      if r[1] == 'active' and r[2] == rid then
        rep.load = rep.load + 1
        local at = tonumber(r[3])
        if at and (last == nil or at > last) then last = at end
      end
    end
    if last then rep.since = math.max(0, now - last) / 1000 end
  end
  reps[#reps + 1] = rep
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
    why[r.id] = {score = r.score, top = top_parts(r, 3)}
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
if ARGV[11] == '1' then  -- the whole ranking, exact, for the twin test
  local function exact(x) return string.format('%.17g', x) end
  local rows = {}
  for i, r in ipairs(ranked) do
    local parts = {}
    for j, p in ipairs(r.parts) do parts[j] = {p[1], exact(p[2]), exact(p[3]), exact(p[4])} end
    rows[i] = {id = r.id, score = exact(r.score), parts = parts}
  end
  out.ranked = rows
end
return cjson.encode(out)
