-- A.cid = connection id. A frame the handler refused before any script ran (not JSON, an
-- unknown action, a bad field) still cost an invocation: it drains the abuse bucket.
-- Returns 'penalised' {close} or 'not_connected'.
local cid = A.cid
if not conn_of(cid) then return finish('not_connected') end
return refuse(cid, 'penalised')
