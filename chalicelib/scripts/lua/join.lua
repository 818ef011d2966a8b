-- A.cid = connection id, A.room = room code claimed by the client.
-- Kept for pages loaded before the first relay joined a seat (relay.lua): they send `join` on
-- `matched` and wait for `verified` before signalling. Same effect as that first relay.
-- Returns verified {role} | not_in_room | wrong_room | not_connected | duplicate | rate_limited.
local cid, code = A.cid, A.room
local me, reply = begin(cid, FAMILY)
if not me then return reply end
local seat = seat_of(cid)
if not seat then return refuse(cid, 'not_in_room') end
if seat.room ~= code then return refuse(cid, 'wrong_room') end
join_seat(cid, seat)
return finish('verified', {role = seat.role})
