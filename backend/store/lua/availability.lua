-- What the broker sees for one site, changing nothing but forgetting chats that expired.
-- KEYS, ARGV: see store/keys.py:availability() and store/scripts.py:Scripts.availability().
--#include slots
local s = count_slots(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[1]),
                      tonumber(ARGV[2]), ARGV[3], ARGV[4])
return cjson.encode(s)
