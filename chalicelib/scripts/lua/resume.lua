-- A.cid = new connection id, A.token = resume token, A.fresh = fresh token for the seat.
-- A dropped connection's seat, still within its grace period, moves to this connection.
-- Returns resumed | invalid_token | in_room | not_connected | duplicate | rate_limited with
-- {peer, room, role, peer_name, own_name, peer_held, identity}.
local cid, token, fresh = A.cid, A.token, A.fresh
local me, reply = begin(cid, FAMILY)
if not me then return reply end
if redis.call('HEXISTS', SEATS, cid) == 1 then return refuse(cid, 'in_room') end
local old = redis.call('HGET', TOKENS, token)
local seat = old and seat_of(old)
if not seat or not seat.held or seat.held <= NOW or seat.token ~= token then
  return refuse(cid, 'invalid_token')
end
local identity = take_issue(cid, me)  -- after the refusals, which carry no identity
dequeue(cid, me)
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
touch(seat.room) -- its slot must relay to this connection now
local peer_info = conn_of(seat.peer)
return finish('resumed', {
  peer = seat.peer, room = seat.room, role = seat.role, own_name = seat.name,
  peer_name = peer_seat.held and peer_seat.name or name_of(peer_info), peer_held = peer_seat.held and true or false,
  identity = identity,
})
