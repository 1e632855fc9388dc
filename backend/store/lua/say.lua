-- Store a chat message once: a resend with the same client id returns the stored id. Each
-- message (a resend too) gives the chat's parts (request hash, messages, client ids) its
-- lifetime again, so they expire together, a lifetime after the last message.
-- KEYS, ARGV: see store/keys.py:say() and store/scripts.py:Scripts.say().
-- Returns who is in the chat too, which every message is then published to.
local chat = redis.call('HMGET', KEYS[3], 'status', 'vid', 'rep')
local status = chat[1]
if status ~= 'active' and status ~= 'waiting' then return cjson.encode({error = 'ended'}) end
local out = {status = status, visitor = chat[2] or '', rep = chat[3] or ''}
if ARGV[1] ~= '' then
  local seen = redis.call('HGET', KEYS[2], ARGV[1])
  if seen then
    -- A resend's first attempt may not have reached a replica yet (its sender was told to send
    -- again). Writing here puts this call after it in the replication stream, so a WAIT that
    -- follows on this connection covers the message itself (store/replicated.py).
    for i = 1, 3 do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3])) end
    out.id, out.dup = seen, true
    return cjson.encode(out)
  end
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
if ARGV[1] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], id) end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3])) end
out.id = id
return cjson.encode(out)
