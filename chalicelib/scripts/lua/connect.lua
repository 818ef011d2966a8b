-- A.cid = connection id, A.info = JSON {ip, dev, ua, at[, issue]} (dev: its device identity;
-- issue: the signed identity to hand the page), A.connected_at = connected at (ms), A.endpoint =
-- Management API endpoint, A.new_device = '1' when the device is new (it was issued just now).
-- Returns 'ok', 'banned' (refuse with 403: the device or the address is banned) or 'too_many'
-- (refuse with 429: too many new or open connections from this address or device, too many
-- new devices from this address, or the device was closed for abuse a moment ago).
local cid, at, new_device = A.cid, tonumber(A.connected_at), A.new_device == '1'
local info = cjson.decode(A.info)
local ip, dev = info.ip or '', dev_of(info, cid)
if redis.call('HEXISTS', CONNS, cid) == 1 then return finish('ok') end  -- recorded already
if unexpired(BANS, 'd:' .. dev) or (ip ~= '' and unexpired(BANS, 'a:' .. ip)) then return finish('banned') end
if unexpired(COOLDOWN, dev) then return finish('too_many') end
local function count(key, field) return tonumber(redis.call('HGET', key, field) or '0') end
-- Every limit is checked before anything is counted, so a refusal leaves no trace.
if count(IPRATE, 'd|' .. dev) >= P.dev_rate or count(DEVCONNS, dev) >= P.dev_max then return finish('too_many') end
if ip ~= '' then
  if count(IPRATE, ip) >= P.conn_rate or count(IPCONNS, ip) >= P.conn_max then return finish('too_many') end
  if new_device and count(IPRATE, 'n|' .. ip) >= P.new_dev_rate then return finish('too_many') end
  redis.call('HINCRBY', IPCONNS, ip, 1)
  redis.call('HINCRBY', IPRATE, ip, 1)
  if new_device then redis.call('HINCRBY', IPRATE, 'n|' .. ip, 1) end
  add_socket(IPSOCKETS, ip, cid, info.at)
  mark(IPCONNS)
end
redis.call('HINCRBY', IPRATE, 'd|' .. dev, 1)
mark(IPRATE, 120000)
redis.call('HINCRBY', DEVCONNS, dev, 1)
add_socket(DEVSOCKETS, dev, cid, info.at)
mark(DEVCONNS)
redis.call('ZREM', TRIM, 'b:' .. dev)  -- its rate-limit buckets are in use again
redis.call('HSET', CONNS, cid, A.info)
redis.call('ZADD', ALIVE, math.min(at + CAP, NOW + IDLE), cid)
redis.call('HSET', META, 'endpoint', A.endpoint)
mark(CONNS)
mark(ALIVE)
mark(META)
return finish('ok')
