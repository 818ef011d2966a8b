-- A.cid = connection id. Leaves the queue or the room and goes idle.
-- Returns left | not_connected | duplicate | rate_limited with {peer, room} of an ended room.
local cid = A.cid
local me, reply = begin(cid, FAMILY)
if not me then return reply end
dequeue(cid, me)
local seat = seat_of(cid)
if seat then return finish('left', {peer = notify(end_room(cid, seat), seat.room), room = seat.room}) end
return finish('left', {peer = '', room = ''})
