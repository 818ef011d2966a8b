"""Build the Lambda events API Gateway and EventBridge would send, in exactly AWS's shape.

The handlers under test read these dicts the way they read production events, so every field
AWS sends is here, with AWS's spelling and nesting, even the ones this app ignores today
(``extendedRequestId``, ``messageDirection``, ...): a handler that starts reading one tomorrow
must not break only in production. Reference events live in ``tests/gateway/aws_events/``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LOCAL_ACCOUNT_ID = "123456789012"
SPECIAL_ROUTES = frozenset({"$connect", "$disconnect"})

Event = dict[str, Any]


def new_connection_id() -> str:
    """An id in API Gateway's format: 16 base64 characters ending in '=' (11 random bytes).

    URL-safe base64, so an id never contains '/', and boto3 only has to escape the '='.
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def new_request_id() -> str:
    """API Gateway's requestId, extendedRequestId and messageId share the connection id format."""
    return new_connection_id()


def now_ms() -> int:
    return int(time.time() * 1000)


def request_time(epoch_ms: int) -> str:
    """CLF time as API Gateway writes it ("09/Feb/2024:18:11:43 +0000"), independent of locale."""
    t = time.gmtime(epoch_ms / 1000)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def iso8601(epoch_s: float) -> str:
    """ISO 8601 in UTC with milliseconds, the format of the Management API's timestamps."""
    t = time.gmtime(epoch_s)
    millis = round((epoch_s - int(epoch_s)) * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{millis:03d}Z"


@dataclass(frozen=True)
class Api:
    """What every event says about the API itself."""

    api_id: str
    stage: str
    domain_name: str


@dataclass(frozen=True)
class Peer:
    """What every event says about the connection."""

    connection_id: str
    connected_at_ms: int
    source_ip: str


def _request_context(api: Api, peer: Peer, route_key: str, event_type: str, at_ms: int) -> Event:
    request_id = new_request_id()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(at_ms),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": peer.connected_at_ms,
        "requestTimeEpoch": at_ms,
        "identity": {"sourceIp": peer.source_ip},
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": peer.connection_id,
        "apiId": api.api_id,
    }


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Lambda proxy integrations send both maps: the last value of each name, and all values."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def connect_event(
    api: Api, peer: Peer, headers: list[tuple[str, str]], query: list[tuple[str, str]]
) -> Event:
    """The $connect event; query string maps are present only when there is a query string."""
    at = now_ms()
    forwarded = [
        ("X-Amzn-Trace-Id", f"Root=1-{at // 1000:08x}-{uuid.uuid4().hex[:24]}"),
        ("X-Forwarded-For", peer.source_ip),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    present = {name.lower() for name, _ in headers}
    pairs = headers + [(n, v) for n, v in forwarded if n.lower() not in present]
    single, multi = _multi(pairs)
    event: Event = {"headers": single, "multiValueHeaders": multi}
    if query:
        qs, mqs = _multi(query)
        event["queryStringParameters"] = qs
        event["multiValueQueryStringParameters"] = mqs
    event["requestContext"] = _request_context(api, peer, "$connect", "CONNECT", at)
    event["isBase64Encoded"] = False
    return event


def message_event(api: Api, peer: Peer, route_key: str, body: str) -> Event:
    at = now_ms()
    context = _request_context(api, peer, route_key, "MESSAGE", at)
    context = {"routeKey": route_key, "messageId": new_request_id(), **context}
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(api: Api, peer: Peer, status_code: int, reason: str) -> Event:
    """AWS sends these four headers, three of them empty, on every $disconnect."""
    at = now_ms()
    single, multi = _multi([("Host", api.domain_name), ("x-api-key", ""), ("X-Forwarded-For", ""), ("x-restapi", "")])
    context = _request_context(api, peer, "$disconnect", "DISCONNECT", at)
    context = {"routeKey": "$disconnect", "disconnectStatusCode": status_code, **context}
    context["disconnectReason"] = reason
    return {"headers": single, "multiValueHeaders": multi, "requestContext": context, "isBase64Encoded": False}


def scheduled_event(region: str, rule_name: str) -> Event:
    """The EventBridge "Scheduled Event" a rate() or cron() rule delivers to its Lambda."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT_ID}:rule/{rule_name}"],
        "detail": {},
    }


def body_action(body: str) -> str | None:
    """The ``action`` field of a JSON object body, else None (non-JSON, arrays, non-strings).

    Never raises: route selection runs on the socket's read loop, so an exception here would
    drop the connection, where API Gateway, unable to select a route, hands the frame to
    ``$default`` and lets the app answer it. ``json`` raises RecursionError, not ValueError, for a
    frame nested ~1,000 levels deep (2 KB is enough), and anything else it might raise (a
    MemoryError on a huge number, say) is treated the same way: no action.
    """
    try:
        parsed = json.loads(body)
    except Exception:  # ValueError, RecursionError, ...: all mean "no action to route on"
        return None
    action = parsed.get("action") if isinstance(parsed, dict) else None
    return action if isinstance(action, str) else None


def select_route(body: str, routes: set[str] | frozenset[str]) -> str | None:
    """Route selection ``$request.body.action`` with ``$default`` fallback, as API Gateway does.

    $connect and $disconnect can never be selected by a message. None means no route matched
    and there is no $default: API Gateway then answers the client with "Forbidden".
    """
    action = body_action(body)
    if action is not None and action in routes and action not in SPECIAL_ROUTES:
        return action
    return "$default" if "$default" in routes else None
