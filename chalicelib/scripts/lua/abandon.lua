-- A `matched` could not be delivered: its recipient is gone. A.room = room code, A.gone =
-- the member that is gone, A.other = the other member, A.told = '1' if the other was told of
-- the room already, A.code, A.token_a, A.token_b = a fresh room code and resume tokens, for
-- finding the other a partner.
-- The room ends at once, held seat or not: the gone member never received its token, so there
-- is nothing to resume. The gone member is forgotten. A told other is named so that it hears
-- `peer-disconnected`; an untold one goes back to looking (no rate token: it did not ask).
-- Returns told {peer, room} | matched {as seek} | queued {queue_length} | stale (the room had
-- already ended; whoever ended it told whom it had to) | not_connected (the other left too).
local code, gone, other, told = A.room, A.gone, A.other, A.told == '1'
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
local status = find_partner(other, me, {code = A.code, a = A.token_a, b = A.token_b}, out)
return finish(status, out)
