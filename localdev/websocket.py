"""The WebSocket endpoint: handshake, $connect, messages with route selection, $disconnect.

$connect runs before the upgrade completes, so a non-2xx result becomes the HTTP status of
the refused handshake, as in API Gateway. Each text message becomes one $default (or
selected route) invocation, started in arrival order and not waiting for the previous one
to finish: API Gateway does not serialize a connection's messages either (``--serial``
makes them wait, to tell an ordering bug from a race). Every invocation of a connection goes in
that connection's lane of the invoker's fair scheduler, so a socket that sends a burst waits
behind its own frames, not in front of everyone else's.

Route selection never raises (see ``events.body_action``): a frame it cannot read is handed to
``$default`` for the app to answer, as API Gateway does, instead of dropping the socket.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import TYPE_CHECKING

from aiohttp import WebSocketError, WSMsgType, web

from localdev import connections as close_status
from localdev.connections import Connection
from localdev.eventlog import event_line
from localdev.events import body_action, connect_event, disconnect_event, message_event, new_connection_id, select_route

if TYPE_CHECKING:
    from localdev.server import Gateway


def _handshake_refusal(status: int, result: object) -> web.Response:
    body = result.get("body") if isinstance(result, dict) else None
    if not 100 <= status <= 599:
        status = 500
    return web.Response(status=status, text=body if isinstance(body, str) else None)


async def serve_websocket(gw: Gateway, request: web.Request) -> web.StreamResponse:
    settings = gw.settings
    # One byte of headroom: aiohttp refuses a message of exactly max_msg_size bytes, AWS does not.
    ws = web.WebSocketResponse(max_msg_size=settings.max_message_bytes + 1, autoping=True)
    if not ws.can_prepare(request).ok:
        return web.Response(status=426, text=f"Upgrade Required: connect a WebSocket to {settings.websocket_url()}\n")
    conn = Connection(
        id=new_connection_id(),
        ws=ws,
        source_ip=request.remote or "127.0.0.1",
        user_agent=request.headers.get("User-Agent", ""),
    )
    function = gw.loaded.websocket.get("$connect")
    if function is not None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers]
        event = connect_event(gw.api, conn.peer, headers, list(request.query.items()))
        outcome = await gw.invoker.invoke(function, event, lane=conn.id)
        event_line(conn.id, "$connect", None, outcome.status, outcome.latency_ms)
        if not 200 <= outcome.status_code < 300:
            return _handshake_refusal(outcome.status_code, outcome.result)
    try:
        await ws.prepare(request)
    except (ConnectionError, RuntimeError):
        # The client left while $connect ran; the app recorded it, so let it forget it.
        gw.spawn(_disconnect(gw, conn, *close_status.ABNORMAL))
        return ws
    gw.connections[conn.id] = conn
    try:
        await _read_loop(gw, conn)
    finally:
        gw.connections.pop(conn.id, None)
        conn.gone = True
        code, reason = conn.disconnect or close_status.ABNORMAL
        gw.spawn(_disconnect(gw, conn, code, reason))
    return ws


async def _watchdog(gw: Gateway, conn: Connection) -> None:
    """Close with 1001 at the idle timeout or the connection cap, whichever comes first.

    A separate task, because pings (answered inside aiohttp's receive()) must not count as
    activity, and a receive() timeout would restart on every ping.
    """
    settings = gw.settings
    while not conn.ws.closed:
        remaining = conn.idle_deadline(settings.idle_timeout_s, settings.max_connection_s) - time.monotonic()
        if remaining <= 0:
            # Spawned, not awaited: the read loop cancels this task as soon as the socket closes.
            gw.spawn(conn.close(close_status.GOING_AWAY))
            return
        await asyncio.sleep(remaining)


async def _read_loop(gw: Gateway, conn: Connection) -> None:
    watchdog = asyncio.get_running_loop().create_task(_watchdog(gw, conn))
    try:
        await _receive(gw, conn)
    finally:
        watchdog.cancel()


async def _receive(gw: Gateway, conn: Connection) -> None:
    ws = conn.ws
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.TEXT:
            conn.touch_by_client()
            _dispatch(gw, conn, msg.data)
            # receive() does not yield while frames are buffered, so without this a burst of
            # 2,000 frames held the event loop ~100 ms before another socket's frame was read.
            await asyncio.sleep(0)
        elif msg.type is WSMsgType.BINARY:
            # API Gateway rejects binary frames and disconnects with 1003.
            await conn.close(close_status.BINARY)
            return
        elif msg.type is WSMsgType.CLOSE:
            if conn.disconnect is None:
                conn.disconnect = _client_close_status(int(msg.data or 0), str(msg.extra or ""))
            return
        elif msg.type is WSMsgType.ERROR:
            error = msg.data
            if conn.disconnect is None and isinstance(error, WebSocketError):
                too_big = error.code == close_status.TOO_BIG[0]
                conn.disconnect = close_status.TOO_BIG if too_big else (int(error.code), str(error))
            return
        else:  # CLOSING (we closed it) or CLOSED (the TCP connection just went away)
            return


def _client_close_status(code: int, reason: str) -> tuple[int, str]:
    if code == 0:
        return close_status.NO_STATUS
    if code == close_status.NORMAL[0] and not reason:
        return close_status.NORMAL
    return code, reason


def _dispatch(gw: Gateway, conn: Connection, body: str) -> None:
    """Queue the invocation now, so one connection's invocations start in arrival order; do not wait for it."""
    route = select_route(body, frozenset(gw.loaded.websocket))
    if route is None:
        gw.spawn(_answer_no_route(gw, conn, body))
        return
    event = message_event(gw.api, conn.peer, route, body)
    gw.spawn(_invoke_message(gw, conn, route, event, body))


async def _invoke_message(gw: Gateway, conn: Connection, route: str, event: dict, body: str) -> None:
    function = gw.loaded.websocket[route]
    if gw.settings.serial_per_connection:
        async with conn.order_lock:
            outcome = await gw.invoker.invoke(function, event, lane=conn.id)
    else:
        outcome = await gw.invoker.invoke(function, event, lane=conn.id)
    event_line(conn.id, route, body_action(body), outcome.status, outcome.latency_ms)
    if outcome.error is not None:
        # What API Gateway sends the client when the integration fails.
        error = {
            "message": "Internal server error",
            "connectionId": conn.id,
            "requestId": event["requestContext"]["requestId"],
        }
        await conn.send(json.dumps(error).encode())


async def _answer_no_route(gw: Gateway, conn: Connection, body: str) -> None:
    event_line(conn.id, "(no route)", body_action(body), 403, None)
    await conn.send(json.dumps({"message": "Forbidden", "connectionId": conn.id}).encode())


async def _disconnect(gw: Gateway, conn: Connection, code: int, reason: str) -> None:
    function = gw.loaded.websocket.get("$disconnect")
    if random.random() < gw.settings.disconnect_loss:
        # AWS delivers $disconnect on a best-effort basis; --disconnect-loss rehearses a miss.
        event_line(conn.id, "$disconnect", None, "lost", None, f"{code} {reason} (dropped: --disconnect-loss)")
        return
    if function is None:
        event_line(conn.id, "$disconnect", None, "-", None, f"{code} {reason}")
        return
    event = disconnect_event(gw.api, conn.peer, code, reason)
    outcome = await gw.invoker.invoke(function, event, lane=conn.id)
    event_line(conn.id, "$disconnect", None, outcome.status, outcome.latency_ms, f"{code} {reason}")
