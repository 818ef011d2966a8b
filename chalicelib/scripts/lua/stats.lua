-- Read-only. Returns stats {waiting, chatting, online, waits = [ms of each match in the last minute]}.
local waits = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', MATCHES, NOW - 60000, '+inf')) do
  local sep = string.find(member, ':[^:]*$')
  table.insert(waits, tonumber(string.sub(member, sep + 1)))
end
return {'stats', cjson.encode({
  waiting = redis.call('ZCARD', QUEUE), chatting = redis.call('HLEN', ROOMS),
  online = redis.call('ZCARD', ALIVE), waits = waits,
})}
