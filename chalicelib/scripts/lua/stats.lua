-- Read-only but for its cache. Returns stats {waiting, chatting, online, matches (in the last
-- minute), waits = [ms a sample of those matches waited]}: O(1), whatever the traffic. Every
-- open page polls it, so the answer is kept for P.stats_cache_ms and shared by every container.
-- The cache holds '<computed at>|<answer>': judged by NOW, the same clock as the matches.
local cached = redis.call('GET', STATSCACHE)
if cached then
  local sep = string.find(cached, '|', 1, true)
  if NOW - tonumber(string.sub(cached, 1, sep - 1)) < P.stats_cache_ms then
    return {'stats', string.sub(cached, sep + 1)}
  end
end
local second = math.floor(NOW / 1000)
local fields = {}
for back = 0, 59 do
  local slot = (second - back) % 64
  table.insert(fields, 'n' .. slot)
  table.insert(fields, 'w' .. slot)
end
local values = redis.call('HMGET', MATCHSTATS, unpack(fields))
local matches, waits = 0, {}
for back = 0, 59 do
  local prefix = (second - back) .. ':'
  local count, sample = values[2 * back + 1], values[2 * back + 2]
  if count and string.sub(count, 1, #prefix) == prefix then
    matches = matches + tonumber(string.sub(count, #prefix + 1))
    local listed = string.sub(sample or prefix, #prefix + 1)
    for wait in string.gmatch(listed, '%d+') do table.insert(waits, tonumber(wait)) end
  end
end
local answer = cjson.encode({
  waiting = redis.call('ZCARD', QUEUE), chatting = redis.call('HLEN', ROOMS),
  online = redis.call('ZCARD', ALIVE), matches = matches, waits = waits,
})
if P.stats_cache_ms > 0 then redis.call('PSETEX', STATSCACHE, P.stats_cache_ms, NOW .. '|' .. answer) end
return {'stats', answer}
