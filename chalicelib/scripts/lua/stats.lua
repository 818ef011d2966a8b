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
for back = 0, 59 do table.insert(fields, (second - back) % 64) end
local matches, waits = 0, {}
for back, entry in ipairs(redis.call('HMGET', MATCHSTATS, unpack(fields))) do
  if entry then
    local s, n, rest = string.match(entry, '^(%d+) (%d+)(.*)$')
    if tonumber(s) == second - back + 1 then
      matches = matches + tonumber(n)
      for wait in string.gmatch(rest, '%d+') do table.insert(waits, tonumber(wait)) end
    end
  end
end
local answer = cjson.encode({
  waiting = redis.call('ZCARD', QUEUE), chatting = redis.call('HLEN', ROOMS),
  online = redis.call('ZCARD', ALIVE), matches = matches, waits = waits,
})
if P.stats_cache_ms > 0 then redis.call('PSETEX', STATSCACHE, P.stats_cache_ms, NOW .. '|' .. answer) end
return {'stats', answer}
