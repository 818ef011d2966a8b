-- A.batch = most connections to evict, and waiters to inspect, per job; A.fresh = JSON list of
-- {code, a, b} fresh room codes and resume tokens, one per pair the sweep may form.
-- The safety net behind the real-time paths, one job per function below, in one atomic pass.
-- Returns swept {evicted, ended = [{peer, room}], pairs = [{a, a_name, b, b_name, room,
-- token_a, token_b, common, waited}], next_due (ms, 0 if nothing is due), endpoint}.
local batch, fresh = tonumber(A.batch), cjson.decode(A.fresh)
local out = {ended = {}, pairs = {}, next_due = 0, evicted = 0}

local function due_at(when)
  if out.next_due == 0 or when < out.next_due then out.next_due = when end
end

-- Connections past their liveness deadline (idle timeout, 2-hour cap) are forgotten, and rooms
-- whose resume grace period ran out end; the peers of both are told, if they are still here.
local function evict_and_expire()
  local gone = {}
  local evicted = redis.call('ZRANGEBYSCORE', ALIVE, '-inf', NOW, 'LIMIT', 0, batch)
  for _, cid in ipairs(evicted) do
    local result = forget(cid, false)
    if result.peer ~= '' then table.insert(gone, result) end
  end
  out.evicted = #evicted
  for _, cid in ipairs(redis.call('ZRANGEBYSCORE', HELD, '-inf', NOW, 'LIMIT', 0, batch)) do
    local seat = seat_of(cid)
    redis.call('ZREM', HELD, cid)
    if seat and seat.held then table.insert(gone, {peer = notify(end_room(cid, seat), seat.room), room = seat.room}) end
  end
  for _, item in ipairs(gone) do
    if item.peer ~= '' and is_live(item.peer) then table.insert(out.ended, item) end
  end
end

-- Ended rooms whose peer was never said to be told (the reply naming it was lost, or its post
-- failed): tell it now, unless it has moved on (looking again or in a new room, so its page
-- knows) or is gone. A notice told here falls due again unless this pass acknowledges it.
local function retell_notices()
  for _, peer in ipairs(redis.call('ZRANGEBYSCORE', ENDED, '-inf', NOW, 'LIMIT', 0, batch)) do
    local room = redis.call('HGET', ENDEDROOM, peer)
    if room and is_live(peer) and redis.call('HEXISTS', SEATS, peer) == 0 and not redis.call('ZSCORE', QUEUE, peer) then
      redis.call('ZADD', ENDED, NOW + P.notice_ms, peer)
      table.insert(out.ended, {peer = peer, room = room})
    else
      drop_notice(peer)
    end
  end
end

-- Rooms whose announcement may have been lost (a reply that never came back, a post that
-- failed): by now both members should have joined. One that joined hears peer-disconnected;
-- one that never did goes back to the queue, where it still believes it is.
local function end_unjoined_rooms()
  for _, code in ipairs(redis.call('ZRANGEBYSCORE', FRESH, '-inf', NOW, 'LIMIT', 0, batch)) do
    redis.call('ZREM', FRESH, code)
    local room = decode(redis.call('HGET', ROOMS, code))
    if room then
      local members = {room.initiator, room.responder}
      local seats = {seat_of(members[1]), seat_of(members[2])}
      local first = seats[1] and 1 or 2
      end_room(members[first], seats[first])
      for i, member in ipairs(members) do
        local seat = seats[i]
        if seat and seat.room == code and not seat.held and is_live(member) then
          if seat.joined == 1 then
            table.insert(out.ended, {peer = notify(member, code), room = code})
          else
            enqueue(member, conn_of(member), room.at, true)
          end
        end
      end
    end
  end
end

-- Bans, blocks, no-repeat periods and cool-downs that ended; and entries whose window is over:
-- the reports of a device nobody reported for the window, the strikes against an address whose
-- devices' bans all ended, the buckets of a device with no socket that are full again by now.
local function drop_expired()
  for _, timed in ipairs({BANS, BLOCKED, RECENT, COOLDOWN}) do redis.call('ZREMRANGEBYSCORE', timed, '-inf', NOW) end
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', TRIM, '-inf', NOW, 'LIMIT', 0, batch)) do
    local kind, id = string.sub(entry, 1, 1), string.sub(entry, 3)
    if kind == 'r' then
      redis.call('HDEL', REPORTS, id)
    elseif kind == 's' then
      redis.call('HDEL', STRIKES, id)
    else
      for family in pairs(P.rates) do redis.call('HDEL', BUCKETS, id .. ':' .. family) end
    end
    redis.call('ZREM', TRIM, entry)
  end
end

-- Pairs waiters who may be paired now but were not when they last looked: those whose
-- fallback passed (from then they take anyone) and those put back in the queue (DUE), in the
-- order they started waiting; then the oldest few past their fallback again, whom the end of a
-- no-repeat period or a block may have made compatible. Two strangers paired a moment ago are
-- paired again only if they are the only ones waiting past the fallback. The work is what
-- changed (DUE), bounded by `batch` and by the fresh room codes, never the whole queue.
local RECHECK = 4
local function pair_waiters()
  local due, listed = {}, {}
  -- Two a room code at most: each seeker pairs with one waiter, often another of the due.
  for _, cid in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', NOW, 'LIMIT', 0, math.min(batch, 2 * #fresh))) do
    local since = redis.call('ZSCORE', QUEUE, cid)
    if since then
      table.insert(due, {cid = cid, since = tonumber(since)})
      listed[cid] = true
    else
      redis.call('ZREM', DUE, cid)
    end
  end
  local overdue = redis.call('ZRANGEBYSCORE', QUEUE, '-inf', NOW - P.fallback_ms, 'WITHSCORES', 'LIMIT', 0, RECHECK)
  for i = 1, #overdue, 2 do
    if not listed[overdue[i]] then table.insert(due, {cid = overdue[i], since = tonumber(overdue[i + 1])}) end
  end
  table.sort(due, function(x, y) return x.since < y.since or (x.since == y.since and x.cid < y.cid) end)
  local used, next_code = {}, 1
  local function try_pair(x, y)
    local spare = fresh[next_code]
    next_code = next_code + 1
    used[x.cid], used[y.cid] = true, true
    -- The one who waited longer initiates; of two who started at once, the lower id.
    if y.waited > x.waited or (y.waited == x.waited and y.cid < x.cid) then x, y = y, x end
    pair(x, y, spare)
    table.insert(out.pairs, {
      a = x.cid, a_name = name_of(x.info), b = y.cid, b_name = name_of(y.info), room = spare.code,
      token_a = spare.a, token_b = spare.b, common = common_tags(x.info, y.info), waited = x.waited,
    })
  end
  for _, entry in ipairs(due) do
    -- Out of room codes: the rest stay due, for the next pass (which follows at once).
    if not fresh[next_code] then break end
    local cid = entry.cid
    if listed[cid] then redis.call('ZREM', DUE, cid) end
    if not used[cid] and redis.call('ZSCORE', QUEUE, cid) then
      if not can_pair(cid) then
        dequeue(cid, conn_of(cid))
      else
        local seeker = {cid = cid, info = conn_of(cid), waited = NOW - entry.since}
        local partner = partner_for(seeker, used)
        if partner then try_pair(partner, seeker) end
      end
    end
  end
  local late = redis.call('ZRANGEBYSCORE', QUEUE, '-inf', NOW - P.fallback_ms, 'WITHSCORES', 'LIMIT', 0, 3)
  if #late == 4 and fresh[next_code] and not used[late[1]] and not used[late[3]] then
    local x = {cid = late[1], info = conn_of(late[1]), waited = NOW - tonumber(late[2])}
    local y = {cid = late[3], info = conn_of(late[3]), waited = NOW - tonumber(late[4])}
    if can_pair(x.cid) and can_pair(y.cid) and compatible(x, y, true) then try_pair(x, y) end
  end
end

-- The next time something falls due: a grace period, an announcement check, a notice, a
-- waiter's fallback.
local function timed_due()
  for _, timed in ipairs({HELD, FRESH, ENDED, DUE}) do
    local first = redis.call('ZRANGE', timed, 0, 0, 'WITHSCORES')
    if first[2] then due_at(tonumber(first[2])) end
  end
end

evict_and_expire()
retell_notices()
end_unjoined_rooms()
drop_expired()
pair_waiters()
timed_due()
out.endpoint = redis.call('HGET', META, 'endpoint') or ''
return finish('swept', out)
