"""A tiny stand-in Chalice app that exercises every gateway mechanism and records what it saw.

Each handler pushes the raw event it received onto a Redis list, so tests assert on the
exact events the gateway produced. Replies go through boto3's Management API client at
MANAGEMENT_API_URL, as the real app's sender does.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
import redis
from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent, WebsocketEvent

app = Chalice(app_name="echo")
app.experimental_feature_flags.update(["WEBSOCKETS"])

store = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
management = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["MANAGEMENT_API_URL"])
REPLY_PREFIX = "echo"  # tests edit this line to check reloading


def record(event: WebsocketEvent) -> None:
    # Limits first: tests take the recorded event as the sign a handler is done with Redis, and
    # $disconnect's "disconnected" push must follow it closely (tests/gateway/conftest.py).
    note_limits(event.context)
    store.rpush(f"events:{event.connection_id}", json.dumps(event.to_dict()))


def note_limits(context: Any) -> None:
    """Keep what Lambda told this function about itself, so tests see per-function limits."""
    limits = {"memory_mb": int(context.memory_limit_in_mb), "remaining_ms": context.get_remaining_time_in_millis()}
    store.hset("lambda_limits", context.function_name, json.dumps(limits))


def reply(connection_id: str, payload: dict[str, Any]) -> None:
    management.post_to_connection(ConnectionId=connection_id, Data=json.dumps(payload).encode())


@app.on_ws_connect()
def connect(event: WebsocketEvent) -> dict[str, Any]:
    record(event)
    query = event.to_dict().get("queryStringParameters") or {}
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if "reject" in query:
        return {"statusCode": int(query["reject"]), "body": "rejected by $connect"}
    return {"statusCode": 200}


@app.on_ws_message()
def message(event: WebsocketEvent) -> None:
    record(event)
    try:
        body = json.loads(event.body)
    except ValueError:
        body = {"action": None, "raw": event.body}
    action = body.get("action") if isinstance(body, dict) else None
    me = event.connection_id
    if action == "slow":
        time.sleep(float(body.get("seconds", 1)))
    if action in ("echo", "slow"):
        reply(me, {REPLY_PREFIX: body, "route": event.to_dict()["requestContext"]["routeKey"]})
    elif action == "measure":
        reply(me, {"bytes": len(event.body.encode())})
    elif action == "whoami":
        reply(me, {"connectionId": me})
    elif action == "env":
        keys = ("REDIS_URL", "MANAGEMENT_API_URL", "WEBSOCKET_URL", "ECHO_GREETING", "AWS_REGION")
        reply(me, {key: os.environ.get(key) for key in keys})
    elif action == "send_to":
        try:
            reply(body["target"], {"from": me, "text": body.get("text")})
            reply(me, {"sent": body["target"]})
        except management.exceptions.GoneException:
            store.rpush("gone", body["target"])
            reply(me, {"gone": body["target"]})
    elif action == "info":
        info = management.get_connection(ConnectionId=me)
        reply(me, {"info": {k: str(v) if k != "Identity" else v for k, v in info.items() if k != "ResponseMetadata"}})
    elif action == "delete_me":
        management.delete_connection(ConnectionId=me)
    elif action == "big_reply":
        reply(me, {"padding": "x" * int(body["size"])})
    elif action == "crash":
        raise RuntimeError("the handler crashed on purpose")
    else:
        reply(me, {"unhandled": body})


@app.on_ws_disconnect()
def disconnect(event: WebsocketEvent) -> None:
    record(event)
    store.rpush("disconnected", event.connection_id)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event: CloudWatchEvent) -> None:
    store.rpush("schedule", json.dumps(event.to_dict()))
    note_limits(event.context)


@app.route("/hello")
def hello() -> dict[str, Any]:
    return {"hello": "world", "query": app.current_request.query_params}


@app.route("/items/{item_id}", methods=["POST"])
def create_item(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "body": app.current_request.json_body}
