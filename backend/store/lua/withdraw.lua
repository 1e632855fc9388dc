-- Withdraw an offer whose deadline has passed; idempotent, so every web worker may sweep.
-- KEYS, ARGV: see store/keys.py:withdraw() and store/scripts.py:Scripts.withdraw().
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if not deadline then
  redis.call('ZREM', KEYS[4], ARGV[2])
  return '{}'
end
if tonumber(deadline) > tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[4], deadline, ARGV[2])
  return '{}'
end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[3], 'withdrawn', 'EX', ARGV[4]) end
return cjson.encode({withdrawn = id})
