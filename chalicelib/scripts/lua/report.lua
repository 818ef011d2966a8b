-- A.cid = connection id. Ends the chat, records the report against the
-- peer's device, blocks the two devices from meeting again, and bans the peer's device once
-- enough distinct devices reported it within the window. An address is banned only once
-- P.address_ban_devices devices from it are banned: many people may share it.
-- Returns reported {peer, room, banned, closing = [sockets of the banned device or address,
-- now forgotten: tell each and close it], ended = [{peer, room} of rooms those sockets were
-- in]} | not_in_room | not_connected | banned | duplicate | rate_limited.
local cid = A.cid
local me, reply = begin(cid, FAMILY)
if not me then return reply end
local seat = seat_of(cid)
if not seat then return refuse(cid, 'not_in_room') end
local peer_seat = seat_of(seat.peer) or {}
local peer_info = conn_of(seat.peer) or {}
local peer_ip = peer_seat.ip or peer_info.ip or ''
local peer_dev = peer_seat.dev or dev_of(peer_info, seat.peer)
local my_dev = dev_of(me, cid)
local peer = notify(end_room(cid, seat), seat.room)
local banned, closing, ended = false, {}, {}
redis.call('ZADD', BLOCKED, NOW + P.block_ms, pair_key(my_dev, peer_dev))
mark(BLOCKED, P.block_ms)
local reports = decode(redis.call('HGET', REPORTS, peer_dev)) or {}
local fresh, count = {}, 0
for reporter, at in pairs(reports) do
  if at > NOW - P.report_window_ms then fresh[reporter] = at; count = count + 1 end
end
if not fresh[my_dev] then count = count + 1 end
fresh[my_dev] = NOW
local function close_all(socks)
  for _, sock in ipairs(socks) do
    local result = forget(sock, false)
    table.insert(closing, sock)
    if result.peer ~= '' and result.peer ~= cid then table.insert(ended, {peer = result.peer, room = result.room}) end
  end
end
if count >= P.report_threshold then
  redis.call('ZADD', BANS, NOW + P.ban_ms, 'd:' .. peer_dev)
  redis.call('HDEL', REPORTS, peer_dev)
  redis.call('ZREM', TRIM, 'r:' .. peer_dev)
  mark(BANS, P.ban_ms)
  banned = true
  local targets = sockets_of(DEVSOCKETS, peer_dev)
  if peer_ip ~= '' then
    -- Strikes against the address: the banned devices seen behind it, until their bans end.
    local strikes, live = decode(redis.call('HGET', STRIKES, peer_ip)) or {}, {}
    local n = 0
    for dev, until_ms in pairs(strikes) do
      if until_ms > NOW then live[dev] = until_ms; n = n + 1 end
    end
    if not live[peer_dev] then n = n + 1 end
    live[peer_dev] = NOW + P.ban_ms
    redis.call('HSET', STRIKES, peer_ip, cjson.encode(live))
    redis.call('ZADD', TRIM, NOW + P.ban_ms, 's:' .. peer_ip)
    mark(STRIKES, P.ban_ms)
    mark(TRIM, TRIM_TTL)
    if n >= P.address_ban_devices then
      redis.call('ZADD', BANS, NOW + P.ban_ms, 'a:' .. peer_ip)
      targets = sockets_of(IPSOCKETS, peer_ip)
    end
  end
  close_all(targets)
else
  redis.call('HSET', REPORTS, peer_dev, cjson.encode(fresh))
  redis.call('ZADD', TRIM, NOW + P.report_window_ms, 'r:' .. peer_dev)
  mark(REPORTS, P.report_window_ms)
  mark(TRIM, TRIM_TTL)
end
return finish('reported', {peer = peer, room = seat.room, banned = banned, closing = closing, ended = ended})
