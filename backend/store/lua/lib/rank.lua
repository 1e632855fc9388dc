-- Ranking representatives for one request, on facts already read: the twin of
-- core/matching.py:rank (filters, rule scores, sum in RULES order, one rounding at the end,
-- ties by rep id) and of core/dispatch.py (offered, top). No Redis calls here.
local MAX_LEVEL = 5  -- core/matching.py:MAX_LEVEL

local function round6(x) return math.floor(x * 1e6 + 0.5) / 1e6 end

local function primary(tag) return string.lower(string.match(tag, '^[^-]*')) end

local function language_score(rep, language)
  if language == '' then return 0 end
  local want = primary(language)
  for i, tag in ipairs(rep.languages) do
    if primary(tag) == want then
      if i == 1 then return 1 end
      return 0.5
    end
  end
  return 0
end

local function has_prefix(text, prefix) return string.sub(text, 1, #prefix) == prefix end

local function rule_score(name, rule, s, rep)
  if name == 'skill' then
    if s.product == '' then return 0 end
    return math.min(rep.skills[s.product] or 0, MAX_LEVEL) / MAX_LEVEL
  elseif name == 'language' then
    return language_score(rep, s.language)
  elseif name == 'area' then
    if s.area == '' then return 0 end
    for _, a in ipairs(rep.areas) do if has_prefix(s.area, a) then return 1 end end
    return 0
  elseif name == 'accreditation' then
    if s.product == '' then return 0 end
    return math.min(rep.accreditations[s.product] or 0, MAX_LEVEL) / MAX_LEVEL
  elseif name == 'account_owner' then
    if s.account_owner ~= '' and s.account_owner == rep.id then return 1 end
    return 0
  elseif name == 'capacity' then
    local free = rep.capacity - rep.load
    if free <= 0 then return 0 end
    return math.min(free / rep.capacity, 1)
  elseif name == 'fairness' then
    if rep.since == nil then return 1 end
    return math.min(math.max(rep.since, 0) / rule[3], 1)
  elseif name == 'results' then
    return (rep.successes + rule[4] * rule[5]) / (rep.chats + rule[5])
  end
  return 0
end

local function eligible(spec, s, rep)
  if not rep.active or rep.status ~= 'available' then return false end
  if rep.load >= rep.capacity then return false end
  local f = spec.filters
  if f.on_schedule and not rep.on_duty then return false end
  if f.language and s.language ~= '' and language_score(rep, s.language) == 0 then return false end
  if f.accredited and s.product ~= '' and (rep.accreditations[s.product] or 0) < 1 then return false end
  return true
end

-- A rep's part of each rule: {rule, weight, score, contribution, index}.
local function parts_of(spec, rep)
  local s, parts = spec.session, {}
  for i, rule in ipairs(spec.rules) do
    local score = rule_score(rule[1], rule, s, rep)
    parts[i] = {rule[1], rule[2], round6(score), round6(rule[2] * score), i}
  end
  return parts
end

-- Eligible reps, best first (ties by id): {id, score, rep}. Sorted on one number per rep,
-- -score x 1e6 x n + the rep's place by id (scores are whole millionths, so it is exact
-- below 2^53), with Lua's own <: a comparator function per comparison costs several times more.
local function rank_reps(spec, reps)
  local s = spec.session
  local found, ids = {}, {}
  for _, rep in ipairs(reps) do
    if eligible(spec, s, rep) then
      local total = 0
      for _, rule in ipairs(spec.rules) do total = total + rule[2] * rule_score(rule[1], rule, s, rep) end
      found[rep.id] = {id = rep.id, score = round6(total), rep = rep}
      ids[#ids + 1] = rep.id
    end
  end
  table.sort(ids)
  local n, order, by_key = #ids, {}, {}
  for place, id in ipairs(ids) do
    local key = -math.floor(found[id].score * 1e6 + 0.5) * n + place
    order[place] = key
    by_key[key] = found[id]
  end
  table.sort(order)
  local ranked = {}
  for i, key in ipairs(order) do ranked[i] = by_key[key] end
  return ranked
end

-- How many of n ranked reps a stage offers the request to, and whether that is all of them.
local function offered_count(d, stage, n)
  local count
  if d.mode == 'all' then
    count = n
  elseif d.mode == 'top_n' then
    if stage == 0 then count = d.n else count = n end
  else
    count = 1 + stage * d.widen_by
  end
  if count > n then count = n end
  return count, count >= n
end

-- A ranked rep's largest contributions above 0, largest first, ties in RULES order.
local function top_parts(spec, r, k)
  local parts = {}
  for _, p in ipairs(parts_of(spec, r.rep)) do if p[4] > 0 then parts[#parts + 1] = p end end
  table.sort(parts, function(a, b)
    if a[4] ~= b[4] then return a[4] > b[4] end
    return a[5] < b[5]
  end)
  local out = {}
  for i = 1, math.min(k, #parts) do out[i] = {parts[i][1], parts[i][4]} end
  return out
end
