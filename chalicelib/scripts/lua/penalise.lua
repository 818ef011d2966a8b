-- A.cid = connection id, A.code = what the frame is refused as, A.retry_ms = when to retry
-- ('0': no hint). A frame the handler refused before any script ran (not JSON, an unknown
-- action, a bad field: 'penalised'), or one a room's slot found over its rate ('rate_limited'),
-- still cost an invocation: it drains the abuse bucket.
-- Returns A.code {close[, retry_ms]} or 'not_connected'.
local cid = A.cid
if not conn_of(cid) then return finish('not_connected') end
local retry_ms = tonumber(A.retry_ms)
return refuse(cid, A.code, retry_ms > 0 and {retry_ms = retry_ms} or nil)
