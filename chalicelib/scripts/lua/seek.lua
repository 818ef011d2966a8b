-- register and next. A.cid = connection id, A.mode = 'register' | 'next',
-- A.name = display name ('' keeps the stored one), A.tags = JSON list of interests
-- ('' keeps the stored ones), A.code = fresh room code, A.token_a, A.token_b = fresh resume
-- tokens for the waiter and the newcomer.
-- Returns matched | queued | exists | in_room | not_connected | banned | duplicate |
-- rate_limited with {left_peer, left_room, partner, partner_name, own_name, room,
-- token_partner, token_own, common, waited, queue_length, identity}.
-- left_* name the room `next` ended ('' if none); its other member must be told. A register
-- from a seat that never joined its room answers matched again for that room (again = true).
local cid, mode, name, tags = A.cid, A.mode, A.name, A.tags
local me, reply = begin(cid, FAMILY)
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
local since = redis.call('ZSCORE', QUEUE, cid)
if (name ~= '' and name ~= me.name) or tags ~= '' then
  -- Waiting already: it keeps its place, indexed under its new interests.
  local reindex = since and tags ~= ''
  if reindex then dequeue(cid, me) end
  if name ~= '' then me.name = name end
  if tags ~= '' then me.tags = cjson.decode(tags) end
  redis.call('HSET', CONNS, cid, cjson.encode(me))
  mark(CONNS)
  if reindex then enqueue(cid, me, tonumber(since)) end
end
out.own_name = name_of(me)
if since then
  out.queue_length = redis.call('ZCARD', QUEUE)
  return finish('exists', out)
end
local status = find_partner(cid, me, {code = A.code, a = A.token_a, b = A.token_b}, out)
return finish(status, out)
