-- A.cid = connection id, A.hold = '1' to hold its seat for the grace period.
-- Returns 'held' or 'gone' with {peer, room}: the peer to tell ('' if none).
local result = forget(A.cid, A.hold == '1')
return finish(result.kind, {peer = result.peer, room = result.room})
