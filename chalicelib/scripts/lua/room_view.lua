-- A room's view, sent by the lobby's script that changed its seats (see view_of in
-- prelude.lua), applied on the room's own slot. A.view = JSON, A.ttl = ms. Views carry the
-- lobby's version: an older one (a slow handler's) never overwrites a newer one, and a closed
-- room stays closed. Rate buckets survive a new view; nothing survives closing.
-- Returns applied | stale.
local view = cjson.decode(A.view)
local current = tonumber(redis.call('HGET', VIEW, 'v') or '0')
if current >= view.v then return 'stale' end
if view.closed then
  redis.call('DEL', VIEW)
  redis.call('HSET', VIEW, 'v', view.v, 'closed', 1)
else
  redis.call('HSET', VIEW, 'v', view.v, 'lease', view.lease, 'i', view.i, 'r', view.r, 'ia', view.ia,
    'ra', view.ra, 'ij', view.ij, 'rj', view.rj, 'in', view['in'], 'rn', view.rn)
end
redis.call('PEXPIRE', VIEW, A.ttl)
return 'applied'
