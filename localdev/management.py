"""The Management API (``/{stage}/@connections/{id}``), wire-compatible with AWS's.

The app's own sender (chalicelib/sender.py: signed HTTP/1.1 on kept-alive connections, which
aiohttp keeps alive too) and boto3 both talk to it. boto3's ``apigatewaymanagementapi`` client
is a restJson client: it finds the error type in the ``x-amzn-ErrorType`` header and reads
``connectedAt``/``identity``/``lastActiveAt`` (the model's locationNames, lower camel case)
from GET. With ``endpoint_url=http://HOST:PORT/{stage}`` it sends ``/{stage}/@connections/{id}``
with the id's '=' escaped as %3D, as the app's sender does; aiohttp unescapes it.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

from aiohttp import web

from localdev.connections import NORMAL
from localdev.eventlog import event_line
from localdev.events import iso8601, new_request_id

if TYPE_CHECKING:
    from localdev.server import Gateway

PATH = re.compile(r"^/(?P<stage>[^/]+)/@connections/(?P<id>[^/]+)$")


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"message": message}),
        content_type="application/json",
        headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": new_request_id()},
    )


def _ok(status: int, body: dict[str, object] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(body) if body is not None else None,
        content_type="application/json",
        headers={"x-amzn-RequestId": new_request_id()},
    )


async def serve_management(gw: Gateway, request: web.Request, stage: str, connection_id: str) -> web.Response:
    start = time.perf_counter()
    response = await _handle(gw, request, stage, connection_id)
    latency = (time.perf_counter() - start) * 1000
    event_line(connection_id, f"{request.method} @conn", None, response.status, latency)
    return response


async def _handle(gw: Gateway, request: web.Request, stage: str, connection_id: str) -> web.Response:
    if stage != gw.loaded.api_stage:
        return _error(403, "ForbiddenException", f"Forbidden: this API's stage is {gw.loaded.api_stage!r}")
    conn = gw.connections.get(connection_id)
    if conn is None or conn.gone:
        return _error(410, "GoneException", f"Connection {connection_id} is gone")
    if request.method == "POST":
        data = await request.read()
        if len(data) > gw.settings.max_message_bytes:
            return _error(413, "PayloadTooLargeException", "Request entity too large")
        if not await conn.send(data):
            return _error(410, "GoneException", f"Connection {connection_id} is gone")
        return _ok(200)
    if request.method == "GET":
        return _ok(
            200,
            {
                "connectedAt": iso8601(conn.connected_at),
                "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                "lastActiveAt": iso8601(conn.last_active_at),
            },
        )
    if request.method == "DELETE":
        # AWS accepts the delete at once and fires $disconnect after the socket is closed.
        conn.gone = True
        gw.spawn(conn.close(NORMAL))
        return _ok(204)
    return _error(405, "MethodNotAllowedException", f"{request.method} is not supported on @connections")
