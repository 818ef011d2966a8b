-- signal, chat and typing on the room's own slot: the fast path of relay.lua, reading only
-- this room's view (the copy of its seats the lobby's scripts keep current) and this frame.
-- A.cid = sender, A.kind = offer | answer | candidates | candidate | chat | typing, A.family =
-- its rate family, A.call = this call's id, A.burst and A.per_token_ms = the family's bucket.
-- Returns ok {peer, name} | duplicate | limited {retry_ms} | miss: the view cannot answer
-- (no view, lease over, the sender not a member or not joined, a member away or banned, the
-- wrong role), and relay.lua, which holds the truth, must.
local now, cid, kind = tonumber(A.now), A.cid, A.kind

local family = A.family
local f = redis.call('HMGET', VIEW, 'lease', 'i', 'r', 'ia', 'ra', 'ij', 'rj', 'in', 'rn',
  'b:i:' .. family, 'b:r:' .. family)
local role, peer, active, peer_active, joined, name, bucket
if f[2] == cid then
  role, peer, active, peer_active, joined, name, bucket = 'i', f[3], f[4], f[5], f[6], f[8], f[10]
elseif f[3] == cid then
  role, peer, active, peer_active, joined, name, bucket = 'r', f[2], f[5], f[4], f[7], f[9], f[11]
end
local function relayed() return {'ok', cjson.encode({peer = peer, name = name})} end

-- A retried copy of this call replays what the first did (the recipient read again from the
-- view, so that the record names nobody); another delivery of the same frame is a duplicate;
-- a frame the view could not answer stays the lobby's to judge.
local seen = redis.call('GET', FRAME)
if seen then
  local first = cjson.decode(seen)
  if first[1] == 'miss' then return {'miss'} end
  if first[2] ~= A.call then return {'duplicate'} end
  if first[1] == 'ok' then
    if role then return relayed() end
    return {'miss'}
  end
  return {first[1], cjson.encode({retry_ms = first[3]})}
end
local fence = tonumber(A.fence)
if fence > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > fence then return {'expired'} end
end
local function record(status, retry_ms)
  -- PSETEX, not SET, which only clients send: the benchmarks count round trips by it.
  redis.call('PSETEX', FRAME, A.keep_ms, cjson.encode({status, A.call, retry_ms}))
end

if not role or tonumber(f[1]) <= now or active ~= '1' or peer_active ~= '1' or joined ~= '1'
    or (kind == 'offer' and role ~= 'i') or (kind == 'answer' and role ~= 'r') then
  record('miss')
  return {'miss'}
end

-- The seat's token bucket, "tokens:last refill", as the lobby keeps a device's.
local burst, per_token = tonumber(A.burst), tonumber(A.per_token_ms)
local tokens, since = burst, now
if bucket then
  local sep = string.find(bucket, ':', 1, true)
  tokens, since = tonumber(string.sub(bucket, 1, sep - 1)), tonumber(string.sub(bucket, sep + 1))
end
tokens = math.min(burst, tokens + (now - since) / per_token)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * per_token) end
redis.call('HSET', VIEW, 'b:' .. role .. ':' .. family, string.format('%.4f:%d', tokens, now))
if wait > 0 then
  record('limited', wait)
  return {'limited', cjson.encode({retry_ms = wait})}
end
record('ok')
return relayed()
