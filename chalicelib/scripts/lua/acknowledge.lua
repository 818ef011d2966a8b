-- A.told = JSON list of [peer, room] whose peer-disconnected was posted: the sweep need not
-- tell them. A peer's newer notice (another room) stays. Returns acknowledged; idempotent.
for _, told in ipairs(cjson.decode(A.told)) do
  if redis.call('HGET', ENDEDROOM, told[1]) == told[2] then drop_notice(told[1]) end
end
return finish('acknowledged')
