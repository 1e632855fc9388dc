-- Withdraw an offer whose deadline has passed; idempotent, so every web worker may sweep.
-- KEYS: 1 offer hash, 2 offers zset, 3 cooldown key, 4 global deadlines zset
-- ARGV: 1 vid, 2 deadline member ("site vid"), 3 now (ms), 4 cool-down (s)
local deadline = redis.call('HGET', KEYS[1], 'deadline')
if not deadline then
  redis.call('ZREM', KEYS[4], ARGV[2])
  return false
end
if tonumber(deadline) > tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[4], deadline, ARGV[2])
  return false
end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[2])
if tonumber(ARGV[4]) > 0 then redis.call('SET', KEYS[3], 'withdrawn', 'EX', ARGV[4]) end
return id
