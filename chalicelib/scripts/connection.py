"""Lua for a connection's life: admission at $connect, keep-alive, and $disconnect."""

CONNECT = r"""
-- ARGV[8] = connection id, ARGV[9] = JSON {ip, ua, at}, ARGV[10] = connected at (ms),
-- ARGV[11] = Management API endpoint.
-- Returns 'ok', 'banned' (refuse with 403) or 'too_many' (refuse with 429: too many new or
-- open connections from this IP).
local cid, at = ARGV[8], tonumber(ARGV[10])
local ip = cjson.decode(ARGV[9]).ip or ''
if redis.call('HEXISTS', CONNS, cid) == 1 then return finish('ok') end  -- recorded already
if ip ~= '' then
  if unexpired(BANS, ip) then return finish('banned') end
  local opened = tonumber(redis.call('HGET', IPRATE, ip) or '0')
  if opened >= P.conn_rate then return finish('too_many') end
  if redis.call('HINCRBY', IPCONNS, ip, 1) > P.conn_max then
    release_ip(ip)
    return finish('too_many')
  end
  redis.call('HINCRBY', IPRATE, ip, 1)
  add_socket(ip, cid)
  mark(IPCONNS)
  mark(IPRATE, 120000)
end
redis.call('HSET', CONNS, cid, ARGV[9])
redis.call('ZADD', ALIVE, math.min(at + CAP, NOW + IDLE), cid)
redis.call('HSET', META, 'endpoint', ARGV[11])
mark(CONNS)
mark(ALIVE)
mark(META)
return finish('ok')
"""

DISCONNECT = r"""
-- ARGV[8] = connection id, ARGV[9] = '1' to hold its seat for the grace period.
-- Returns 'held' or 'gone' with {peer, room}: the peer to tell ('' if none).
local result = forget(ARGV[8], ARGV[9] == '1')
return finish(result.kind, {peer = result.peer, room = result.room})
"""

PING = r"""
-- ARGV[8] = connection id. Returns 'pong', 'not_connected' or 'rate_limited'.
local me, reply = begin(ARGV[8], 'misc')
if not me then return reply end
return finish('pong')
"""

PENALISE = r"""
-- ARGV[8] = connection id. A frame the handler refused before any script ran (not JSON, an
-- unknown action, a bad field) still cost an invocation: it drains the abuse bucket.
-- Returns 'penalised' {close} or 'not_connected'.
local cid = ARGV[8]
if not conn_of(cid) then return finish('not_connected') end
return refuse(cid, 'penalised')
"""
