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
