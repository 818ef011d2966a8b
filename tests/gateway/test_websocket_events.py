"""The events the gateway hands the app's handlers, and the $connect / close / route rules."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.gateway.clients import (
    abort,
    connect,
    recorded,
    recorded_types,
    recv_json,
    send,
    wait_for,
    whoami,
)
from tests.gateway.gateway_process import GatewayProcess

AWS_EVENTS = Path(__file__).parent / "aws_events"
CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")


def keys_of(value: Any, prefix: str = "") -> set[str]:
    """Every key path in a nested dict, for comparing an event's shape with AWS's."""
    if not isinstance(value, dict):
        return set()
    paths: set[str] = set()
    for key, item in value.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        if key not in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
            paths |= keys_of(item, path)
    return paths


def aws(name: str) -> dict[str, Any]:
    return dict(json.loads((AWS_EVENTS / name).read_text()))


def test_connect_message_and_disconnect_events_have_exactly_aws_shape(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url + "?lang=en&lang=fr", additional_headers={"Origin": "http://localhost"}) as ws:
        me = whoami(ws)
    wait_for(lambda: len(recorded(store, me)) == 3, what="$disconnect")
    connect_event, message_event, disconnect_event = recorded(store, me)

    assert keys_of(connect_event) == keys_of(aws("connect.json"))
    assert keys_of(message_event) == keys_of(aws("message.json"))
    assert keys_of(disconnect_event) == keys_of(aws("disconnect.json"))
    assert CONNECTION_ID.match(me)
    for event in (connect_event, message_event, disconnect_event):
        context = event["requestContext"]
        assert (context["connectionId"], context["apiId"], context["stage"]) == (me, "localdev01", "api")
        assert context["domainName"] == f"127.0.0.1:{echo_gateway.port}"
        assert context["identity"] == {"sourceIp": "127.0.0.1"}
        assert context["messageDirection"] == "IN"
        assert context["connectedAt"] == connect_event["requestContext"]["connectedAt"]
        assert abs(context["requestTimeEpoch"] - time.time() * 1000) < 10_000
        assert event["isBase64Encoded"] is False
    assert [e["requestContext"]["eventType"] for e in (connect_event, message_event, disconnect_event)] == [
        "CONNECT", "MESSAGE", "DISCONNECT",
    ]
    assert connect_event["queryStringParameters"] == {"lang": "fr"}
    assert connect_event["multiValueQueryStringParameters"] == {"lang": ["en", "fr"]}
    assert connect_event["headers"]["Origin"] == "http://localhost"
    assert connect_event["multiValueHeaders"]["Origin"] == ["http://localhost"]
    assert connect_event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert message_event["body"] == json.dumps({"action": "whoami"})
    assert message_event["requestContext"]["routeKey"] == "$default"
    assert disconnect_event["requestContext"]["disconnectStatusCode"] == 1000


def test_connect_without_query_string_has_no_query_string_maps(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
    connect_event = recorded(store, me)[0]
    assert "queryStringParameters" not in connect_event
    assert "multiValueQueryStringParameters" not in connect_event


def test_every_connection_and_message_gets_a_fresh_id(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url) as a, connect(echo_gateway.ws_url) as b:
        first, second = whoami(a), whoami(b)
        send(a, {"action": "echo"})
        recv_json(a)
    assert first != second
    message_ids = [e["requestContext"]["messageId"] for e in recorded(store, first)[1:3]]
    assert len(set(message_ids)) == 2


def test_connect_rejection_fails_the_handshake_with_the_handlers_status(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(echo_gateway.ws_url + "?reject=403")
    assert refused.value.response.status_code == 403
    assert refused.value.response.body == b"rejected by $connect"
    with pytest.raises(InvalidStatus) as unauthorized:
        connect(echo_gateway.ws_url + "?reject=401")
    assert unauthorized.value.response.status_code == 401
    time.sleep(0.3)
    refused_ids = [key.split(":", 1)[1] for key in store.keys("events:*")]
    assert len(refused_ids) == 2
    for connection_id in refused_ids:  # a refused connection never existed: no $disconnect
        assert recorded_types(store, connection_id) == ["CONNECT"]


def test_client_close_fires_disconnect_with_the_clients_close_code(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        ws.close(code=4001, reason="bye now")
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")
    context = recorded(store, me)[-1]["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (4001, "bye now")


def test_abrupt_close_fires_disconnect(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        abort(ws)
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect after abort")
    assert recorded_types(store, me) == ["CONNECT", "MESSAGE", "DISCONNECT"]
    assert recorded(store, me)[-1]["requestContext"]["disconnectStatusCode"] == 1006


def test_every_message_lands_on_default_because_the_app_defines_no_other_route(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        for body in ('{"action": "echo"}', '{"action": "$connect"}', "not json", "[1, 2]", '{"action": 7}'):
            ws.send(body)
            recv_json(ws)
    routes = [e["requestContext"]["routeKey"] for e in recorded(store, me) if e["requestContext"]["eventType"] == "MESSAGE"]
    assert routes == ["$default"] * 6


def test_a_crashing_handler_sends_the_client_api_gateways_internal_server_error(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        send(ws, {"action": "crash"})
        error = recv_json(ws)
        send(ws, {"action": "echo"})
        after = recv_json(ws)
    assert set(error) == {"message", "connectionId", "requestId"}
    assert (error["message"], error["connectionId"]) == ("Internal server error", me)
    assert after["echo"] == {"action": "echo"}  # the connection survives


def test_messages_of_one_connection_run_concurrently_as_in_aws(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        send(ws, {"action": "slow", "seconds": 1})
        send(ws, {"action": "echo", "n": 2})
        first, second = recv_json(ws), recv_json(ws)
    assert first["echo"] == {"action": "echo", "n": 2}
    assert second["echo"] == {"action": "slow", "seconds": 1}


def test_binary_frames_close_the_connection_with_1003_like_api_gateway(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")
