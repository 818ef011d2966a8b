"""Lua for entering and leaving rooms: register/next (seek), leave, and resume."""

SEEK = r"""
-- register and next. ARGV[8] = connection id, ARGV[9] = 'register' | 'next',
-- ARGV[10] = display name ('' keeps the stored one), ARGV[11] = JSON list of interests
-- ('' keeps the stored ones), ARGV[12] = fresh room code, ARGV[13], ARGV[14] = fresh resume
-- tokens for the waiter and the newcomer.
-- Returns matched | queued | exists | in_room | not_connected | banned | duplicate |
-- rate_limited with {left_peer, left_room, partner, partner_name, own_name, room,
-- token_partner, token_own, common, waited, queue_length, identity}.
-- left_* name the room `next` ended ('' if none); its other member must be told. A register
-- from a seat that never joined its room answers matched again for that room (again = true).
local cid, mode, name, tags = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local me, reply = begin(cid, 'seek')
if not me then return reply end
local out = {left_peer = '', left_room = ''}
local seat = seat_of(cid)
if seat and mode ~= 'next' then
  local peer_seat = seat_of(seat.peer)
  if seat.joined == 1 or not peer_seat or peer_seat.held then return refuse(cid, 'in_room') end
  out.identity = take_issue(cid, me)
  -- Seated but never joined: this connection may never have heard of its room (the reply to
  -- its register was lost). Asking again learns what happened: both are told once more.
  out.partner, out.partner_name, out.own_name = seat.peer, name_of(conn_of(seat.peer)), name_of(me)
  out.room, out.role, out.token_partner, out.token_own = seat.room, seat.role, peer_seat.token, seat.token
  out.common, out.waited, out.again = common_tags(conn_of(seat.peer), me), 0, true
  return finish('matched', out)
end
-- Taken only now: a refusal carries no identity, so it must not use it up.
out.identity = take_issue(cid, me)
if seat then
  out.left_room = seat.room
  out.left_peer = notify(end_room(cid, seat), seat.room)
end
if (name ~= '' and name ~= me.name) or tags ~= '' then
  if name ~= '' then me.name = name end
  if tags ~= '' then me.tags = cjson.decode(tags) end
  redis.call('HSET', CONNS, cid, cjson.encode(me))
  mark(CONNS)
end
out.own_name = name_of(me)
if redis.call('ZSCORE', QUEUE, cid) then
  out.queue_length = redis.call('ZCARD', QUEUE)
  return finish('exists', out)
end
local status = find_partner(cid, me, {code = ARGV[12], a = ARGV[13], b = ARGV[14]}, out)
return finish(status, out)
"""

ABANDON = r"""
-- A `matched` could not be delivered: its recipient is gone. ARGV[8] = room code, ARGV[9] =
-- the member that is gone, ARGV[10] = the other member, ARGV[11] = '1' if the other was told of
-- the room already, ARGV[12..14] = fresh room code and tokens for finding the other a partner.
-- The room ends at once, held seat or not: the gone member never received its token, so there
-- is nothing to resume. The gone member is forgotten. A told other is named so that it hears
-- `peer-disconnected`; an untold one goes back to looking (no rate token: it did not ask).
-- Returns told {peer, room} | matched {as seek} | queued {queue_length} | stale (the room had
-- already ended; whoever ended it told whom it had to) | not_connected (the other left too).
local code, gone, other, told = ARGV[8], ARGV[9], ARGV[10], ARGV[11] == '1'
local seat = seat_of(gone)
local open = redis.call('HEXISTS', ROOMS, code) == 1 and seat and seat.room == code
if open then
  seat.held = nil
  end_room(gone, seat)
end
forget(gone, false)
if told then
  if not open then return finish('stale') end
  return finish('told', {peer = notify(is_live(other) and other or '', code), room = code})
end
-- Untold, the other still believes it is looking, whatever happened to the room meanwhile.
local me = conn_of(other)
if not me or not is_live(other) then return finish('not_connected') end
if redis.call('HEXISTS', SEATS, other) == 1 or redis.call('ZSCORE', QUEUE, other) then return finish('stale') end
local out = {}
local status = find_partner(other, me, {code = ARGV[12], a = ARGV[13], b = ARGV[14]}, out)
return finish(status, out)
"""

LEAVE = r"""
-- ARGV[8] = connection id. Leaves the queue or the room and goes idle.
-- Returns left | not_connected | duplicate | rate_limited with {peer, room} of an ended room.
local cid = ARGV[8]
local me, reply = begin(cid, 'misc')
if not me then return reply end
redis.call('ZREM', QUEUE, cid)
local seat = seat_of(cid)
if seat then return finish('left', {peer = notify(end_room(cid, seat), seat.room), room = seat.room}) end
return finish('left', {peer = '', room = ''})
"""

RESUME = r"""
-- ARGV[8] = new connection id, ARGV[9] = resume token, ARGV[10] = fresh token for the seat.
-- A dropped connection's seat, still within its grace period, moves to this connection.
-- Returns resumed | invalid_token | in_room | not_connected | duplicate | rate_limited with
-- {peer, room, role, peer_name, own_name, peer_held, identity}.
local cid, token, fresh = ARGV[8], ARGV[9], ARGV[10]
local me, reply = begin(cid, 'seek')
if not me then return reply end
if redis.call('HEXISTS', SEATS, cid) == 1 then return refuse(cid, 'in_room') end
local old = redis.call('HGET', TOKENS, token)
local seat = old and seat_of(old)
if not seat or not seat.held or seat.held <= NOW or seat.token ~= token then
  return refuse(cid, 'invalid_token')
end
local identity = take_issue(cid, me)  -- after the refusals, which carry no identity
redis.call('ZREM', QUEUE, cid)
redis.call('HDEL', TOKENS, token)
redis.call('HDEL', SEATS, old)
redis.call('ZREM', HELD, old)
me.name = seat.name
redis.call('HSET', CONNS, cid, cjson.encode(me))
local moved = {room = seat.room, role = seat.role, peer = seat.peer, joined = 0, token = fresh}
redis.call('HSET', SEATS, cid, cjson.encode(moved))
redis.call('HSET', TOKENS, fresh, cid)
local peer_seat = seat_of(seat.peer)
peer_seat.peer = cid
redis.call('HSET', SEATS, seat.peer, cjson.encode(peer_seat))
local room = cjson.decode(redis.call('HGET', ROOMS, seat.room))
if room.initiator == old then room.initiator = cid else room.responder = cid end
redis.call('HSET', ROOMS, seat.room, cjson.encode(room))
mark(CONNS)
mark(SEATS)
mark(TOKENS)
mark(ROOMS)
local peer_info = conn_of(seat.peer)
return finish('resumed', {
  peer = seat.peer, room = seat.room, role = seat.role, own_name = seat.name,
  peer_name = peer_seat.held and peer_seat.name or name_of(peer_info), peer_held = peer_seat.held and true or false,
  identity = identity,
})
"""
