-- ARGV[8] = connection id, ARGV[9] = '1' to hold its seat for the grace period.
-- Returns 'held' or 'gone' with {peer, room}: the peer to tell ('' if none).
local result = forget(ARGV[8], ARGV[9] == '1')
return finish(result.kind, {peer = result.peer, room = result.room})
