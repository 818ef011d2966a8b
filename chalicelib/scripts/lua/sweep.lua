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
            redis.call('ZADD', QUEUE, room.at, member)
            mark(QUEUE)
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

-- Drops stale queue entries and pairs waiters who are compatible now: the fallback time makes
-- anyone compatible; two recently paired strangers are paired again only if they are the only
-- ones waiting past the fallback. A waiter with interests is due again at its fallback.
local function pair_waiters()
  local waiting = {}
  local entries = redis.call('ZRANGE', QUEUE, 0, batch - 1, 'WITHSCORES')
  for i = 1, #entries, 2 do
    local cid = entries[i]
    if can_pair(cid) then
      table.insert(waiting, {cid = cid, info = conn_of(cid), waited = NOW - tonumber(entries[i + 1])})
    else
      redis.call('ZREM', QUEUE, cid)
    end
  end
  local used, next_code = {}, 1
  local function try_pair(x, y, allow_repeat)
    local spare = fresh[next_code]
    if not spare or used[x.cid] or used[y.cid] then return end
    if not compatible(x, y, allow_repeat) then return end
    next_code = next_code + 1
    used[x.cid], used[y.cid] = true, true
    pair(x, y, spare)
    table.insert(out.pairs, {
      a = x.cid, a_name = name_of(x.info), b = y.cid, b_name = name_of(y.info), room = spare.code,
      token_a = spare.a, token_b = spare.b, common = common_tags(x.info, y.info), waited = x.waited,
    })
  end
  for i = 1, #waiting do
    for j = i + 1, #waiting do try_pair(waiting[i], waiting[j], false) end
  end
  local overdue = {}
  for _, w in ipairs(waiting) do if w.waited >= P.fallback_ms then table.insert(overdue, w) end end
  if #overdue == 2 then try_pair(overdue[1], overdue[2], true) end
  for _, w in ipairs(waiting) do
    if not used[w.cid] and w.waited < P.fallback_ms and #tags_of(w.info) > 0 then
      due_at(NOW + P.fallback_ms - w.waited)
    end
  end
end

-- The next time something falls due: a grace period, an announcement check, a notice.
local function timed_due()
  for _, timed in ipairs({HELD, FRESH, ENDED}) do
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
