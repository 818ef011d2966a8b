"""REST routes through ``chalice.local.LocalGateway``, the code behind ``chalice local``.

Reusing it (rather than re-implementing API Gateway's REST behaviour) means routing, CORS
preflight, authorizers and the "Missing Authentication Token" 403 behave exactly as under
``chalice local``. The response is written the way ``ChaliceRequestHandler`` writes it.
"""

from __future__ import annotations

import base64
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from chalice.local import LocalGatewayException
from multidict import CIMultiDict

from localdev.eventlog import event_line

if TYPE_CHECKING:
    from localdev.server import Gateway

_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection"}


def _to_response(status: int, headers: dict[str, Any], body: str | bytes | None) -> web.Response:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        for item in value if isinstance(value, list) else [value]:
            out.add(name, str(item))
    if body is None:
        return web.Response(status=status, headers=out)
    if "Content-Type" not in out:
        out["Content-Type"] = "application/json"
    payload = body if isinstance(body, bytes) else body.encode("utf-8")
    return web.Response(status=status, headers=out, body=payload)


async def serve_rest(gw: Gateway, request: web.Request) -> web.Response:
    start = time.perf_counter()
    body = await request.read() or None
    headers = dict(request.headers.items())
    local_gateway = gw.loaded.rest
    try:
        result = await gw.invoker.run(local_gateway.handle_request, request.method, request.raw_path, headers, body)
        merged = dict(result["headers"])
        merged.update(result.get("multiValueHeaders") or {})
        payload = result.get("body")
        if result.get("isBase64Encoded") and payload is not None:
            payload = base64.b64decode(payload)
        response = _to_response(int(result["statusCode"]), merged, payload)
    except LocalGatewayException as exc:
        response = _to_response(exc.CODE, dict(exc.headers), exc.body)
    latency = (time.perf_counter() - start) * 1000
    event_line("rest", f"{request.method} {request.path}", None, response.status, latency)
    return response
