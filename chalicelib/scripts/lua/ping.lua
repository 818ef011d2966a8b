-- ARGV[8] = connection id. Returns 'pong' {identity: a signed identity for the page, if one is
-- waiting}, 'not_connected' or 'rate_limited'.
local me, reply = begin(ARGV[8], 'misc')
if not me then return reply end
return finish('pong', {identity = take_issue(ARGV[8], me)})
