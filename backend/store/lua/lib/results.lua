-- A chat's success counted in its rep's results under its rule set, at most once (the
-- 'counted' flag, set with HSETNX): the twin of core/results.py:success_due.
-- results_prefix: store/keys.py:results_prefix (the key ends with the SHA-1 of the name).
local function count_success(req_key, results_prefix, status, rep, rule_set, rating, resolved)
  if status ~= 'ended' or rep == '' or rule_set == '' then return false end
  if not (rating >= 4 or resolved) then return false end
  if redis.call('HSETNX', req_key, 'counted', 1) == 0 then return false end
  redis.call('HINCRBY', results_prefix .. redis.sha1hex(rule_set), rep .. ':ok', 1)
  return true
end
