-- Hand an active chat to another representative who has a free slot.
-- KEYS, ARGV: see store/keys.py:transfer() and store/scripts.py:Scripts.transfer().
local r = redis.call('HMGET', KEYS[1], 'status', 'rep')
if r[1] ~= 'active' or r[2] ~= ARGV[2] then return cjson.encode({error = 'not-yours'}) end
local cap = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
if tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0') >= cap then return cjson.encode({error = 'full'}) end
redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
if tonumber(redis.call('HINCRBY', KEYS[2], ARGV[2], -1)) < 0 then redis.call('HSET', KEYS[2], ARGV[2], 0) end
redis.call('SMOVE', KEYS[4], KEYS[5], ARGV[1])
redis.call('HSET', KEYS[1], 'rep', ARGV[3])
return cjson.encode({ok = true})
