"""Lua scripts: every state change is exactly one of these, so each action is one round trip.

Contract shared by every state script (see ``keys.Keys.state``)::

    KEYS[1] = {p}:alive   ZSET  connection -> liveness deadline (ms)
    KEYS[2] = {p}:conns   HASH  connection -> JSON {ip, ua, at, name}
    KEYS[3] = {p}:queue   ZSET  connection -> waiting since (ms)
    KEYS[4] = {p}:seats   HASH  connection -> JSON {room, role, peer, joined}
    KEYS[5] = {p}:rooms   HASH  room code  -> JSON {initiator, responder, at}
    KEYS[6] = {p}:meta    HASH  endpoint -> Management API URL for the sweep
    KEYS[7] = {p}:msgs    ZSET  messageId -> when it was processed (de-duplication)
    ARGV[1] = now (ms), passed in so tests and sweeps control the clock
    ARGV[2] = TTL (ms) given to every key the script writes: the 2-hour connection cap
    ARGV[3] = idle timeout (ms): a connection that sends nothing for this long is presumed gone
    ARGV[4] = connection cap (ms): API Gateway closes every socket after this long
    ARGV[5] = API Gateway messageId of the client frame ('' if none)
    ARGV[6] = how long (ms) a messageId is remembered for de-duplication

Script-specific arguments start at ARGV[7] and are documented at the top of each body. Scripts
never build key names, so every key they touch arrives in KEYS and shares one hash slot.
Results are flat arrays whose first element is a status word; ``store.py`` turns them into types.
"""

from __future__ import annotations

PRELUDE = r"""
local ALIVE, CONNS, QUEUE, SEATS, ROOMS, META, MSGS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local NOW, KEY_TTL = tonumber(ARGV[1]), tonumber(ARGV[2])
local IDLE, CAP = tonumber(ARGV[3]), tonumber(ARGV[4])
local MESSAGE_ID, DEDUP_MS = ARGV[5], tonumber(ARGV[6])
local written = {}

local function mark(key) written[key] = true end
local function finish(result)
  for key in pairs(written) do redis.call('PEXPIRE', key, KEY_TTL) end
  return result
end
local function decode(raw) if raw then return cjson.decode(raw) end return nil end
local function conn_of(cid) return decode(redis.call('HGET', CONNS, cid)) end
local function seat_of(cid) return decode(redis.call('HGET', SEATS, cid)) end
local function name_of(info) return (info and info.name) or 'Stranger' end

-- API Gateway may deliver a frame twice; a repeated messageId must not act twice (a second
-- `next` would skip the stranger the first one found). Old ids are trimmed as we go.
local function duplicate()
  if MESSAGE_ID == '' then return false end
  if redis.call('ZSCORE', MSGS, MESSAGE_ID) then return true end
  redis.call('ZREMRANGEBYSCORE', MSGS, '-inf', NOW - DEDUP_MS)
  redis.call('ZADD', MSGS, NOW, MESSAGE_ID)
  mark(MSGS)
  return false
end

local function is_live(cid)
  local deadline = redis.call('ZSCORE', ALIVE, cid)
  return deadline and tonumber(deadline) > NOW
end

-- API Gateway resets its idle timer on every client frame; mirror that, never past the cap.
local function refresh(cid, info)
  redis.call('ZADD', ALIVE, 'XX', math.min(info.at + CAP, NOW + IDLE), cid)
  mark(ALIVE)
end

-- Ends the room `seat` belongs to: both seats and the room go. Returns the peer's id.
local function end_room(cid, seat)
  redis.call('HDEL', SEATS, cid)
  redis.call('HDEL', ROOMS, seat.room)
  local peer_seat = seat_of(seat.peer)
  if peer_seat and peer_seat.room == seat.room then redis.call('HDEL', SEATS, seat.peer) end
  return seat.peer
end

local function forget(cid)
  redis.call('ZREM', ALIVE, cid)
  redis.call('HDEL', CONNS, cid)
  redis.call('ZREM', QUEUE, cid)
  local seat = seat_of(cid)
  if seat then return end_room(cid, seat), seat.room end
  return '', ''
end

local function seat_json(room, role, peer)
  return cjson.encode({room = room, role = role, peer = peer, joined = 0})
end

-- `a` has waited longer and becomes the initiator.
local function pair(a, b, code)
  redis.call('ZREM', QUEUE, a, b)
  redis.call('HSET', SEATS, a, seat_json(code, 'initiator', b), b, seat_json(code, 'responder', a))
  redis.call('HSET', ROOMS, code, cjson.encode({initiator = a, responder = b, at = NOW}))
  mark(SEATS)
  mark(ROOMS)
end

local function can_pair(cid)
  return is_live(cid) and redis.call('HEXISTS', SEATS, cid) == 0
end

-- Oldest waiting stranger other than `cid` who is live and unseated. Stale entries met on the
-- way are dropped, so a vanished waiter costs one look, once.
local function oldest_waiter(cid, limit)
  for _, other in ipairs(redis.call('ZRANGE', QUEUE, 0, limit - 1)) do
    if other ~= cid then
      if can_pair(other) then return other end
      redis.call('ZREM', QUEUE, other)
    end
  end
  return nil
end
"""

CONNECT = r"""
-- ARGV[7] = connection id, ARGV[8] = JSON {ip, ua, at}, ARGV[9] = connected at (ms),
-- ARGV[10] = Management API endpoint. Returns {'ok'}.
local cid, at = ARGV[7], tonumber(ARGV[9])
redis.call('HSET', CONNS, cid, ARGV[8])
redis.call('HSET', META, 'endpoint', ARGV[10])
mark(META)
redis.call('ZADD', ALIVE, math.min(at + CAP, NOW + IDLE), cid)
mark(CONNS)
mark(ALIVE)
return finish({'ok'})
"""

SEEK = r"""
-- register and next. ARGV[7] = connection id, ARGV[8] = 'register' | 'next',
-- ARGV[9] = display name ('' keeps the stored one), ARGV[10] = fresh room code,
-- ARGV[11] = how many queue entries to inspect at most.
-- Returns {status, left_peer, left_room[, partner, partner_name, own_name]} where status is
-- 'matched' | 'queued' | 'exists' | 'in_room' | 'not_connected'. left_* name the room that
-- `next` ended ('' if none); its other member must be told.
local cid, mode, name, code, limit = ARGV[7], ARGV[8], ARGV[9], ARGV[10], tonumber(ARGV[11])
local me = conn_of(cid)
if not me then return {'not_connected', '', ''} end
if duplicate() then return finish({'duplicate', '', ''}) end
refresh(cid, me)
local left_peer, left_room = '', ''
local seat = seat_of(cid)
if seat then
  if mode ~= 'next' then return finish({'in_room', '', ''}) end
  left_room = seat.room
  left_peer = end_room(cid, seat)
end
if name ~= '' and name ~= me.name then
  me.name = name
  redis.call('HSET', CONNS, cid, cjson.encode(me))
  mark(CONNS)
end
if redis.call('ZSCORE', QUEUE, cid) then return finish({'exists', left_peer, left_room}) end
local other = oldest_waiter(cid, limit)
if other and redis.call('HEXISTS', ROOMS, code) == 0 then
  pair(other, cid, code)
  return finish({'matched', left_peer, left_room, other, name_of(conn_of(other)), name_of(me)})
end
redis.call('ZADD', QUEUE, NOW, cid)
mark(QUEUE)
return finish({'queued', left_peer, left_room})
"""

LEAVE = r"""
-- ARGV[7] = connection id. Leaves the queue or the room and goes idle.
-- Returns {'left' | 'not_connected', peer, room}; peer/room are '' unless a room ended.
local cid = ARGV[7]
local me = conn_of(cid)
if not me then return {'not_connected', '', ''} end
if duplicate() then return finish({'duplicate', '', ''}) end
refresh(cid, me)
redis.call('ZREM', QUEUE, cid)
local seat = seat_of(cid)
if seat then return finish({'left', end_room(cid, seat), seat.room}) end
return finish({'left', '', ''})
"""

DISCONNECT = r"""
-- ARGV[7] = connection id. Deletes everything about it; idempotent.
-- Returns {'gone', peer, room}; peer/room are '' unless a room ended.
local peer, room = forget(ARGV[7])
return {'gone', peer, room}
"""

JOIN = r"""
-- ARGV[7] = connection id, ARGV[8] = room code claimed by the client.
-- Returns {'verified', role} | {'not_in_room'} | {'wrong_room'} | {'not_connected'}.
local cid, code = ARGV[7], ARGV[8]
local me = conn_of(cid)
if not me then return {'not_connected'} end
if duplicate() then return finish({'duplicate'}) end
refresh(cid, me)
local seat = seat_of(cid)
if not seat then return finish({'not_in_room'}) end
if seat.room ~= code then return finish({'wrong_room'}) end
if seat.joined ~= 1 then
  seat.joined = 1
  redis.call('HSET', SEATS, cid, cjson.encode(seat))
  mark(SEATS)
end
return finish({'verified', seat.role})
"""

RELAY = r"""
-- signal and chat. ARGV[7] = connection id, ARGV[8] = room code claimed ('' for chat),
-- ARGV[9] = signal type ('' for chat). The server, not the client, picks the recipient.
-- Returns {'ok', peer, own_name, room} or {error_code}.
local cid, room, kind = ARGV[7], ARGV[8], ARGV[9]
local me = conn_of(cid)
if not me then return {'not_connected'} end
if duplicate() then return finish({'duplicate'}) end
refresh(cid, me)
local seat = seat_of(cid)
if not seat then return finish({'not_in_room'}) end
if room ~= '' then
  if seat.room ~= room then return finish({'wrong_room'}) end
  if seat.joined ~= 1 then return finish({'not_joined'}) end
  if (kind == 'offer' and seat.role ~= 'initiator') or (kind == 'answer' and seat.role ~= 'responder') then
    return finish({'wrong_role'})
  end
end
return finish({'ok', seat.peer, name_of(me), seat.room})
"""

PING = r"""
-- ARGV[7] = connection id. Returns {'pong'} or {'not_connected'}.
local me = conn_of(ARGV[7])
if not me then return {'not_connected'} end
refresh(ARGV[7], me)
return finish({'pong'})
"""

SWEEP = r"""
-- ARGV[7] = most connections to evict and queue entries to inspect,
-- ARGV[8..] = fresh room codes, one per pair the sweep may form.
-- Returns {evicted_count, {peer, room, ...}, {initiator, name, responder, name, code, ...}, endpoint}:
-- rooms ended by eviction whose surviving member must be told, pairs formed, and where to post.
local batch = tonumber(ARGV[7])
local ended = {}
local evicted = redis.call('ZRANGEBYSCORE', ALIVE, '-inf', NOW, 'LIMIT', 0, batch)
for _, cid in ipairs(evicted) do
  local peer, room = forget(cid)
  if peer ~= '' then table.insert(ended, {peer, room}) end
end
local notify = {}
for _, item in ipairs(ended) do
  if is_live(item[1]) then
    table.insert(notify, item[1])
    table.insert(notify, item[2])
  end
end
local waiting = {}
for _, cid in ipairs(redis.call('ZRANGE', QUEUE, 0, batch - 1)) do
  if can_pair(cid) then table.insert(waiting, cid) else redis.call('ZREM', QUEUE, cid) end
end
local matches = {}
local next_code = 8
for i = 1, #waiting - 1, 2 do
  local code = ARGV[next_code]
  if not code then break end
  next_code = next_code + 1
  local a, b = waiting[i], waiting[i + 1]
  pair(a, b, code)
  for _, v in ipairs({a, name_of(conn_of(a)), b, name_of(conn_of(b)), code}) do
    table.insert(matches, v)
  end
end
return finish({#evicted, notify, matches, redis.call('HGET', META, 'endpoint') or ''})
"""

SOURCES: dict[str, str] = {
    "connect": CONNECT,
    "seek": SEEK,
    "leave": LEAVE,
    "disconnect": DISCONNECT,
    "join": JOIN,
    "relay": RELAY,
    "ping": PING,
    "sweep": SWEEP,
}


def source(name: str) -> str:
    """The full Lua text of one script: the shared prelude followed by its body."""
    return PRELUDE + SOURCES[name]

RELEASE_LOCK = r"""
-- KEYS[1] = lock key, ARGV[1] = token of the holder. Deletes the lock only if we still hold it.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
