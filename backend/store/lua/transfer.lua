-- Hand an active chat to another representative who has a free slot.
-- KEYS, ARGV: see store/keys.py:transfer() and store/scripts.py:Scripts.transfer().
--#include slots
local r = redis.call('HMGET', KEYS[1], 'status', 'rep')
if r[1] ~= 'active' or r[2] ~= ARGV[2] then return cjson.encode({error = 'not-yours'}) end
local cap = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
if rep_load(KEYS[2], KEYS[5], ARGV[4], ARGV[3]) >= cap then return cjson.encode({error = 'full'}) end
redis.call('SMOVE', KEYS[4], KEYS[5], ARGV[1])
redis.call('HSET', KEYS[1], 'rep', ARGV[3])
redis.call('HSET', KEYS[6], 'last_chat', tonumber(ARGV[5]))  -- fairness: taking a chat over is taking a chat
rep_load(KEYS[2], KEYS[4], ARGV[4], ARGV[2])
rep_load(KEYS[2], KEYS[5], ARGV[4], ARGV[3])
return cjson.encode({ok = true})
