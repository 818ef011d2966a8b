-- signal, chat and typing. A.cid = connection id, A.room = room code claimed by the client,
-- A.kind = offer | answer | candidates | candidate | chat | typing, A.family = its rate family
-- (store.RELAY_FAMILIES). Every kind names its room, so a line sent just before `next` is
-- refused rather than reaching the next stranger.
-- The server, not the client, picks the recipient: the sender's current peer.
-- The first relay a seat makes also joins it (the `join` action's work, for pages that no
-- longer send one). This is the slow path: a relay first asks the room's own slot
-- (room_relay.lua), which answers alone once both members have joined; the copy of the seats
-- this call sends there (its view) is what lets it.
-- Returns ok {peer, name, room} or not_connected | duplicate | rate_limited | not_in_room |
-- wrong_room | wrong_role | peer_reconnecting.
local cid, room, kind, family = A.cid, A.room, A.kind, A.family
local me, reply = begin(cid, family, true)
if not me then return reply end
local seat = seat_of(cid)
if not seat then return refuse(cid, 'not_in_room') end
if seat.room ~= room then return refuse(cid, 'wrong_room') end
if (kind == 'offer' and seat.role ~= 'initiator') or (kind == 'answer' and seat.role ~= 'responder') then
  return refuse(cid, 'wrong_role')
end
local peer_seat = seat_of(seat.peer)
if peer_seat and peer_seat.held then return refuse(cid, 'peer_reconnecting') end
join_seat(cid, seat)
return finish('ok', {peer = seat.peer, name = name_of(me), room = seat.room})
