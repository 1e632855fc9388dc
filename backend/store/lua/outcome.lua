-- The customer rates an ended chat, or its rep marks it resolved: each once, and the chat's
-- success counted in the rep's results at most once (the twin of core/results.py: rate,
-- resolve). action 'rate': ARGV[2] the visitor, ARGV[5] the stars, ARGV[6] the comment;
-- 'resolve': ARGV[2] the rep.
-- KEYS, ARGV: see store/keys.py:outcome() and store/scripts.py:Scripts.outcome().
--#include results
local action, who, now, window = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local r = redis.call('HMGET', KEYS[1], 'status', 'vid', 'rep', 'rule_set', 'ended', 'rating', 'resolved', 'counted')
local status, rep, rule_set = r[1] or '', r[3] or '', r[4] or ''
local ended, rating = tonumber(r[5]) or 0, tonumber(r[6]) or 0
local resolved = (r[7] or '') ~= ''
local function refuse(code) return cjson.encode({error = code}) end
if action == 'rate' then
  if status == '' or r[2] ~= who then return refuse('gone') end
  if status ~= 'ended' then return refuse('not-ended') end
  if rep == '' then return refuse('no-rep') end
  if rating > 0 then return refuse('rated') end
  if now - ended > window then return refuse('late') end
  rating = tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'rating', rating, 'comment', ARGV[6], 'rated', now)
  -- the rep's day (KEYS[2], core/counters.py:rep_field): ratings and their stars summed
  redis.call('HINCRBY', KEYS[2], 'rep:' .. rep .. ':rated', 1)
  redis.call('HINCRBY', KEYS[2], 'rep:' .. rep .. ':stars', rating)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
else
  if status == '' then return refuse('gone') end
  if rep ~= who then return refuse('not-yours') end
  if resolved then return refuse('resolved') end
  if status == 'ended' and now - ended > window then return refuse('too-late') end
  resolved = true
  redis.call('HSET', KEYS[1], 'resolved', now)
end
local counted = count_success(KEYS[1], ARGV[7], status, rep, rule_set, rating, resolved)
return cjson.encode({ok = true, success = counted, rep = rep})
