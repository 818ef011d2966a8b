-- A.cid = connection id. Returns 'pong' {identity: a signed identity for the page, if one is
-- waiting}, 'not_connected' or 'rate_limited'.
local me, reply = begin(A.cid, FAMILY)
if not me then return reply end
return finish('pong', {identity = take_issue(A.cid, me)})
