-- Shared by every state script, after the locals generated from chalicelib/scripts (the KEYS,
-- the shared arguments NOW, FENCE, IDLE, CAP, MESSAGE_ID, DEDUP_MS and P, the script's own
-- arguments A and its rate FAMILY): the fence and replay of a call, and the state primitives.
local KEY_TTL = CAP
-- {p}:trim holds entries as long as a ban or a report window: its TTL is never shortened.
local TRIM_TTL = math.max(P.ban_ms, P.report_window_ms)
local written = {}
-- Rooms whose seats this call changed: their slots get a fresh copy (a view) of what a relay
-- needs, sent back with the answer (store.py applies it). Relays then touch only that slot.
local touched = {}
local view_of -- defined once the seat helpers are

-- A call whose reply was lost is sent again with the same arguments (redis-py retries it). If
-- the first copy ran, the copy answers what it did instead of acting twice.
local replay = redis.call('GET', CALL)
if replay then return cjson.decode(replay) end
-- A timeout means the caller stopped waiting, not that the call will not run: a server paused
-- for seconds runs it when it wakes. Past the fence (server wall clock, ms) the caller has given
-- up, so the call does nothing at all and says so; together with the replay above, a caller
-- that asks again learns for certain whether its call happened.
if FENCE > 0 then
  local t = redis.call('TIME')
  local wall = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if wall > FENCE then return {'expired', cjson.encode({late_ms = wall - FENCE})} end
end

-- Every key written gets a TTL: the connection cap, or longer for what outlives a connection
-- (bans, report blocks), which passes its own.
local function mark(key, ttl)
  local want = ttl or KEY_TTL
  if not written[key] or written[key] < want then written[key] = want end
end
local function touch(room) if room and room ~= '' then touched[room] = true end end
local function finish(status, details)
  if next(touched) then
    -- One version for all the views of this call: a later call's views always win.
    local version = redis.call('INCR', VIEWSEQ)
    mark(VIEWSEQ)
    details = details or {}
    details._views = {}
    for room in pairs(touched) do table.insert(details._views, view_of(room, version)) end
  end
  for key, ttl in pairs(written) do redis.call('PEXPIRE', key, ttl) end
  local reply = {status, details and cjson.encode(details) or '{}'}
  -- PSETEX, not SET: SET is a command only clients send, which is how the benchmarks count
  -- round trips from the server's own statistics.
  redis.call('PSETEX', CALL, P.call_ms, cjson.encode(reply))
  return reply
end
local function decode(raw) if raw then return cjson.decode(raw) end return nil end
local function conn_of(cid) return decode(redis.call('HGET', CONNS, cid)) end
local function seat_of(cid) return decode(redis.call('HGET', SEATS, cid)) end
local function name_of(info) return (info and info.name) or 'Stranger' end
-- The device identity behind a connection (chalicelib/identity.py): what no-repeat, report
-- blocks, bans and rate limits follow, across sockets.
local function dev_of(info, cid) return (info and info.dev) or ('c:' .. cid) end
local function tags_of(info)
  if info and type(info.tags) == 'table' then return info.tags end
  return {}
end
local function pair_key(a, b) if a < b then return a .. '|' .. b end return b .. '|' .. a end
local function unexpired(key, member)
  local until_ms = redis.call('ZSCORE', key, member)
  return until_ms and tonumber(until_ms) > NOW
end

-- The queue: QUEUE holds each waiter's start (ms). WAITING indexes the waiters by interest, so
-- that a newcomer finds those who share one without reading the rest: one member per interest,
-- 'tag\0<start>\0cid', or '\0<start>\0cid' for a waiter with none; in a tag's lexical range the
-- oldest come first. DUE holds when a waiter needs a fresh look: a waiter with interests at its
-- fallback (from then it takes anyone), one put back in the queue at once.
local SEP = '\0'
local function stamp(since) return string.format('%015d', since) end
local function waiting_members(cid, info, since)
  local tags, suffix = tags_of(info), SEP .. stamp(since) .. SEP .. cid
  if #tags == 0 then return {suffix} end
  local members = {}
  for _, tag in ipairs(tags) do table.insert(members, tag .. suffix) end
  return members
end
-- `recheck`: the sweep looks for a partner for it at once, not only at its fallback.
local function enqueue(cid, info, since, recheck)
  redis.call('ZADD', QUEUE, since, cid)
  for _, member in ipairs(waiting_members(cid, info, since)) do redis.call('ZADD', WAITING, 0, member) end
  mark(QUEUE)
  mark(WAITING)
  local due = recheck and NOW or (#tags_of(info) > 0 and since + P.fallback_ms)
  if due then
    redis.call('ZADD', DUE, due, cid)
    mark(DUE)
  end
end
-- Returns whether cid was waiting.
local function dequeue(cid, info)
  local since = redis.call('ZSCORE', QUEUE, cid)
  if not since then return false end
  redis.call('ZREM', QUEUE, cid)
  redis.call('ZREM', DUE, cid)
  redis.call('ZREM', WAITING, unpack(waiting_members(cid, info, tonumber(since))))
  return true
end

-- API Gateway may deliver a frame twice; a repeated messageId must not act twice (a second
-- `next` would skip the stranger the first one found). Old ids are trimmed as we go.
local function duplicate()
  if MESSAGE_ID == '' then return false end
  if redis.call('ZSCORE', MSGS, MESSAGE_ID) then return true end
  redis.call('ZREMRANGEBYSCORE', MSGS, '-inf', NOW - DEDUP_MS)
  redis.call('ZADD', MSGS, NOW, MESSAGE_ID)
  mark(MSGS)
  return false
end

local function is_live(cid)
  local deadline = redis.call('ZSCORE', ALIVE, cid)
  return deadline and tonumber(deadline) > NOW
end

-- API Gateway resets its idle timer on every client frame; mirror that, never past the cap.
local function refresh(cid, info)
  redis.call('ZADD', ALIVE, 'XX', math.min(info.at + CAP, NOW + IDLE), cid)
  mark(ALIVE)
end

-- Token bucket per device and action family, "tokens:last refill" in one hash field: a reload
-- or a new socket does not refill it. Returns 0 when a token was taken, else the milliseconds
-- until one will be there.
local function take(dev, family)
  local spec = P.rates[family]
  local field = dev .. ':' .. family
  local raw = redis.call('HGET', BUCKETS, field)
  local tokens, since = spec[1], NOW
  if raw then
    local sep = string.find(raw, ':', 1, true)
    tokens, since = tonumber(string.sub(raw, 1, sep - 1)), tonumber(string.sub(raw, sep + 1))
  end
  tokens = math.min(spec[1], tokens + (NOW - since) / spec[2])
  local wait = 0
  if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) * spec[2]) end
  redis.call('HSET', BUCKETS, field, string.format('%.4f:%d', tokens, NOW))
  mark(BUCKETS)
  return wait
end

-- A device's last socket went. Its rate-limit buckets are kept (a reload must not refill them)
-- until they would be full again, and deleted at once if they are full already.
local function release_buckets(dev)
  local due = 0
  for family, spec in pairs(P.rates) do
    local raw = redis.call('HGET', BUCKETS, dev .. ':' .. family)
    if raw then
      local sep = string.find(raw, ':', 1, true)
      local tokens = tonumber(string.sub(raw, 1, sep - 1)) + (NOW - tonumber(string.sub(raw, sep + 1))) / spec[2]
      if tokens < spec[1] then due = math.max(due, math.ceil((spec[1] - tokens) * spec[2])) end
    end
  end
  if due == 0 then
    for family in pairs(P.rates) do redis.call('HDEL', BUCKETS, dev .. ':' .. family) end
  else
    redis.call('ZADD', TRIM, NOW + due, 'b:' .. dev)
    mark(TRIM, TRIM_TTL)
  end
end

local function release_ip(ip)
  if not ip or ip == '' then return end
  if redis.call('HINCRBY', IPCONNS, ip, -1) <= 0 then redis.call('HDEL', IPCONNS, ip) end
end

-- The open connections of one address (IPSOCKETS) or device (DEVSOCKETS), so that a ban can
-- close them all, oldest first: members 'owner\0<connected at>\0cid' of a sorted set in
-- lexical order, so that adding or dropping one costs the same behind a campus NAT with
-- thousands of sockets as alone. `at`: the connection's info.at.
local function sockets_of(key, owner)
  local socks = {}
  for _, member in ipairs(redis.call('ZRANGEBYLEX', key, '[' .. owner .. SEP, '(' .. owner .. '\1')) do
    table.insert(socks, string.sub(member, string.find(member, SEP, #owner + 2, true) + 1))
  end
  return socks
end
local function add_socket(key, owner, cid, at)
  redis.call('ZADD', key, 0, owner .. SEP .. stamp(at or 0) .. SEP .. cid)
  mark(key)
end
-- Returns how many remain.
local function drop_socket(key, owner, cid, at)
  redis.call('ZREM', key, owner .. SEP .. stamp(at or 0) .. SEP .. cid)
  return redis.call('ZLEXCOUNT', key, '[' .. owner .. SEP, '(' .. owner .. '\1')
end

-- Ends the room `seat` belongs to: both seats, their tokens and holds go. Returns the peer to
-- tell, or '' when the peer's own socket is already gone.
local function end_room(cid, seat)
  touch(seat.room)
  redis.call('HDEL', SEATS, cid)
  redis.call('HDEL', ROOMS, seat.room)
  redis.call('ZREM', FRESH, seat.room)
  redis.call('ZREM', HELD, cid)
  if seat.token then redis.call('HDEL', TOKENS, seat.token) end
  local peer_seat = seat_of(seat.peer)
  if peer_seat and peer_seat.room == seat.room then
    redis.call('HDEL', SEATS, seat.peer)
    redis.call('ZREM', HELD, seat.peer)
    if peer_seat.token then redis.call('HDEL', TOKENS, peer_seat.token) end
    if peer_seat.held then return '' end
  end
  return seat.peer
end

-- `peer` must hear that `room` ended. The handler posts that at once and then acknowledges it
-- (store.acknowledge); until then the notice waits here, and a sweep posts it once it falls
-- due, since the reply that named the peer may never have reached the handler. Returns `peer`.
-- One notice per peer: only its latest room can be the one its page shows.
local function notify(peer, room)
  if peer ~= '' and P.notice_ms > 0 and is_live(peer) then
    redis.call('ZADD', ENDED, NOW + P.notice_ms, peer)
    redis.call('HSET', ENDEDROOM, peer, room)
    mark(ENDED)
    mark(ENDEDROOM)
  end
  return peer
end
local function drop_notice(cid)
  redis.call('ZREM', ENDED, cid)
  redis.call('HDEL', ENDEDROOM, cid)
end

-- Deletes a connection. With `hold`, a seat in a room is kept for the grace period so that a
-- new connection can resume it; the peer is then told 'held' instead of 'gone'.
local function forget(cid, hold)
  local info = conn_of(cid)
  redis.call('ZREM', ALIVE, cid)
  dequeue(cid, info)
  drop_notice(cid)
  if info then
    redis.call('HDEL', CONNS, cid)
    release_ip(info.ip)
    if info.ip and info.ip ~= '' then drop_socket(IPSOCKETS, info.ip, cid, info.at) end
    local dev = dev_of(info, cid)
    if redis.call('HINCRBY', DEVCONNS, dev, -1) <= 0 then redis.call('HDEL', DEVCONNS, dev) end
    if drop_socket(DEVSOCKETS, dev, cid, info.at) == 0 then release_buckets(dev) end
  end
  local seat = seat_of(cid)
  if not seat or seat.held then return {kind = 'gone', peer = '', room = ''} end
  if hold and P.grace_ms > 0 then
    seat.held = NOW + P.grace_ms
    seat.name = name_of(info)
    seat.ip = (info and info.ip) or ''
    seat.dev = dev_of(info, cid)
    redis.call('HSET', SEATS, cid, cjson.encode(seat))
    redis.call('ZADD', HELD, seat.held, cid)
    mark(SEATS)
    mark(HELD)
    touch(seat.room)
    return {kind = 'held', peer = seat.peer, room = seat.room}
  end
  return {kind = 'gone', peer = notify(end_room(cid, seat), seat.room), room = seat.room}
end

-- Every refused frame cost an invocation, so each drains the 'abuse' bucket; an empty one
-- means the connection should be closed (details.close).
-- A connection closed for abuse goes at once, without a seat to resume (its peer is told, as
-- ended_peer), and its device may not connect again for the cool-down.
local function refuse(cid, code, details)
  details = details or {}
  local info = conn_of(cid)
  details.close = take(dev_of(info, cid), 'abuse') > 0
  if details.close then
    if P.cooldown_ms > 0 then
      redis.call('ZADD', COOLDOWN, NOW + P.cooldown_ms, dev_of(info, cid))
      mark(COOLDOWN)
    end
    local gone = forget(cid, false)
    details.ended_peer, details.ended_room = gone.peer, gone.room or ''
  end
  return finish(code, details)
end

local function is_banned(info)
  if unexpired(BANS, 'd:' .. (info.dev or '')) then return true end
  return info.ip and info.ip ~= '' and unexpired(BANS, 'a:' .. info.ip)
end

-- What a relay in `room` needs, for its slot: the members by role, whether each may relay now
-- (seated there, socket up, not banned) and has joined, their names; trusted until `lease`.
-- A room that is gone is a closed view, which no older view can reopen.
view_of = function(room, version)
  local record = decode(redis.call('HGET', ROOMS, room))
  if not record then return {room = room, v = version, closed = 1} end
  local view = {room = room, v = version, lease = NOW + P.view_lease_ms}
  for role, member in pairs({i = record.initiator, r = record.responder}) do
    local seat, info = seat_of(member), conn_of(member)
    local active = seat and seat.room == room and not seat.held and info and not is_banned(info)
    view[role] = member
    view[role .. 'a'] = active and 1 or 0
    view[role .. 'j'] = (seat and seat.joined == 1) and 1 or 0
    view[role .. 'n'] = name_of(info or seat)
  end
  return view
end

-- A member names its room (in `join` or its first relay): it heard of it. Once both have, the
-- sweep need not check the room's announcement. The room's slot learns it either way, since
-- a relay from there needs a current copy.
local function join_seat(cid, seat)
  touch(seat.room)
  if seat.joined == 1 then return end
  seat.joined = 1
  redis.call('HSET', SEATS, cid, cjson.encode(seat))
  mark(SEATS)
  local peer_seat = seat_of(seat.peer)
  if peer_seat and peer_seat.joined == 1 then redis.call('ZREM', FRESH, seat.room) end
end

-- The opening every client action shares: a known connection, not banned, not a duplicate
-- delivery, liveness refreshed, within its rate limit. Returns the connection's info, or nil
-- and the reply to return at once. A relay (`relaying`) keeps no liveness: most relays never
-- reach this slot, so ping alone keeps a connection alive.
local function begin(cid, family, relaying)
  local me = conn_of(cid)
  if not me then return nil, finish('not_connected') end
  if is_banned(me) then return nil, finish('banned', {close = true}) end
  if duplicate() then return nil, finish('duplicate') end
  if not relaying then refresh(cid, me) end
  local wait = take(dev_of(me, cid), family)
  if wait > 0 then return nil, refuse(cid, 'rate_limited', {retry_ms = wait}) end
  return me
end

-- A signed identity issued at $connect reaches the page with the first answer that can carry
-- it (register, resume, ping): returned once, then forgotten.
local function take_issue(cid, me)
  local token = me.issue
  if not token then return nil end
  me.issue = nil
  redis.call('HSET', CONNS, cid, cjson.encode(me))
  mark(CONNS)
  return token
end

local function common_tags(a, b)
  local out = {}
  for _, x in ipairs(tags_of(a)) do
    for _, y in ipairs(tags_of(b)) do if x == y then table.insert(out, x) end end
  end
  return out
end

-- x takes y when x named no interests, shares one with y, or has waited past the fallback.
local function accepts(x, y, waited) return #tags_of(x) == 0 or waited >= P.fallback_ms or #common_tags(x, y) > 0 end

-- Matching sees a waiter as {cid, info, waited (ms)}.
-- x and y may be paired now. Two sockets of one device never are; a report between two devices
-- blocks just those two.
local function compatible(x, y, allow_repeat)
  local dx, dy = dev_of(x.info, x.cid), dev_of(y.info, y.cid)
  if x.cid == y.cid or dx == dy then return false end
  if unexpired(BLOCKED, pair_key(dx, dy)) then return false end
  if not allow_repeat and unexpired(RECENT, pair_key(dx, dy)) then return false end
  return accepts(x.info, y.info, x.waited) and accepts(y.info, x.info, y.waited)
end

local function can_pair(cid)
  return is_live(cid) and redis.call('HEXISTS', SEATS, cid) == 0
end

local function seat_json(room, role, peer, token)
  return cjson.encode({room = room, role = role, peer = peer, joined = 0, token = token})
end

-- Counts a match and keeps a sample of how long it waited, per second of the last minute, for
-- GET /stats: field i of MATCHSTATS, i = the second modulo 64, holds '<second> <matches> <waited
-- ms>...' (at most STATS_SAMPLE waits), so that a field from a minute ago reads as another second.
local STATS_SAMPLE = 16
local function record_match(waited)
  local second = math.floor(NOW / 1000)
  local field = second % 64
  local entry = redis.call('HGET', MATCHSTATS, field)
  local at, count, waits = second, 0, ''
  if entry then
    local s, n, rest = string.match(entry, '^(%d+) (%d+)(.*)$')
    if tonumber(s) == second then count, waits = tonumber(n), rest end
  end
  if count < STATS_SAMPLE then waits = waits .. ' ' .. math.floor(waited) end
  redis.call('HSET', MATCHSTATS, field, at .. ' ' .. (count + 1) .. waits)
  mark(MATCHSTATS)
end

-- Seats waiters x and y in a new room: x has waited longer and becomes the initiator (how long
-- goes to /stats). `fresh` = {code, a, b}: the room code and the two resume tokens.
local function pair(x, y, fresh)
  local a, b, code, token_a, token_b = x.cid, y.cid, fresh.code, fresh.a, fresh.b
  dequeue(a, x.info)
  dequeue(b, y.info)
  redis.call('HSET', SEATS, a, seat_json(code, 'initiator', b, token_a), b, seat_json(code, 'responder', a, token_b))
  redis.call('HSET', ROOMS, code, cjson.encode({initiator = a, responder = b, at = NOW}))
  redis.call('HSET', TOKENS, token_a, a, token_b, b)
  if P.announce_ms > 0 then
    redis.call('ZADD', FRESH, NOW + P.announce_ms, code)
    mark(FRESH)
  end
  redis.call('ZADD', RECENT, NOW + P.repeat_ms, pair_key(dev_of(x.info, a), dev_of(y.info, b)))
  record_match(x.waited)
  mark(SEATS)
  mark(ROOMS)
  mark(TOKENS)
  mark(RECENT)
end

-- The waiters who could take `seeker` ({cid, info, waited}) and whom it could take, oldest
-- first, at most `limit` from each list it reads: those who share one of its interests, and,
-- when it takes anyone (it named none, or waited past its fallback), those who named none and
-- those past their own fallback. Bounded however long the queue: never the whole queue. Also
-- returns the horizon: no unread waiter of these lists started before it.
local function candidates(seeker, limit)
  local found, seen, horizon = {}, {[seeker.cid] = true}, math.huge
  local function add(cid, since)
    if not seen[cid] then
      seen[cid] = true
      table.insert(found, {cid = cid, since = since})
    end
  end
  local function read(list)  -- list: {since, cid} pairs in order
    if #list == limit then horizon = math.min(horizon, list[#list][1]) end
    for _, item in ipairs(list) do add(item[2], item[1]) end
  end
  local function from_index(prefix)
    local list = {}
    for _, member in ipairs(redis.call('ZRANGEBYLEX', WAITING, '[' .. prefix .. SEP, '(' .. prefix .. '\1',
                                       'LIMIT', 0, limit)) do
      local first = #prefix + 2
      local last = string.find(member, SEP, first, true)
      table.insert(list, {tonumber(string.sub(member, first, last - 1)), string.sub(member, last + 1)})
    end
    read(list)
  end
  local tags = tags_of(seeker.info)
  for _, tag in ipairs(tags) do from_index(tag) end
  if #tags == 0 or seeker.waited >= P.fallback_ms then
    from_index('')
    local list, overdue = {}, redis.call('ZRANGEBYSCORE', QUEUE, '-inf', NOW - P.fallback_ms, 'WITHSCORES',
                                         'LIMIT', 0, limit)
    for k = 1, #overdue, 2 do table.insert(list, {tonumber(overdue[k + 1]), overdue[k]}) end
    read(list)
  end
  table.sort(found, function(x, y) return x.since < y.since or (x.since == y.since and x.cid < y.cid) end)
  return found, horizon
end

-- The oldest waiter `seeker` may be paired with now, dropping stale entries on the way; nil if
-- none. `used`: waiters already taken in this call. A short read of each list first, which is
-- nearly always enough; the full read (P.scan from each) only when it was not.
local FIRST_READ = 4
local function partner_for(seeker, used)
  local limits = P.scan > FIRST_READ and {FIRST_READ, P.scan} or {P.scan}
  for round, limit in ipairs(limits) do
    local found, horizon = candidates(seeker, limit)
    if round == #limits then horizon = math.huge end
    for _, candidate in ipairs(found) do
      -- A waiter that started after the horizon may not be the oldest: an unread one may be older.
      if candidate.since > horizon then break end
      local other = candidate.cid
      if not used or not used[other] then
        if not can_pair(other) then
          dequeue(other, conn_of(other))
        else
          local waiter = {cid = other, info = conn_of(other), waited = NOW - candidate.since}
          if compatible(waiter, seeker, false) then return waiter end
        end
      end
    end
    if horizon == math.huge then return nil end
  end
  return nil
end

-- The waiting part of register/next, also used to put someone back to looking on their behalf
-- (no rate token: they did not ask again). `me` is cid's info; `fresh` = {code, a, b}.
-- Returns 'matched' or 'queued', filling `out` with the partner or the queue length.
local function find_partner(cid, me, fresh, out)
  local newcomer = {cid = cid, info = me, waited = 0}
  local waiter = partner_for(newcomer)
  if waiter then
    pair(waiter, newcomer, fresh)
    out.partner, out.partner_name, out.own_name = waiter.cid, name_of(waiter.info), name_of(me)
    out.room, out.token_partner, out.token_own = fresh.code, fresh.a, fresh.b
    out.common, out.waited = common_tags(waiter.info, me), waiter.waited
    return 'matched'
  end
  enqueue(cid, me, NOW)
  out.queue_length = redis.call('ZCARD', QUEUE)
  return 'queued'
end
