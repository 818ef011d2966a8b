"""The Management API as boto3's ``apigatewaymanagementapi`` client sees it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from tests.gateway.clients import connect, recorded_types, recv_json, send, wait_for, whoami
from tests.gateway.gateway_process import GatewayProcess


@pytest.fixture
def management(echo_gateway: GatewayProcess) -> Any:
    """Exactly how an app configures its client for the gateway: only the endpoint differs."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=echo_gateway.management_url,
        region_name="us-east-1",
        aws_access_key_id="localdev",
        aws_secret_access_key="localdev",
    )


def test_post_to_connection_delivers_a_text_frame(echo_gateway: GatewayProcess, management: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        management.post_to_connection(ConnectionId=me, Data=b'{"event": "pong"}')
        assert ws.recv(timeout=5) == '{"event": "pong"}'


def test_post_to_a_closed_connection_raises_gone_exception_in_boto3(
    echo_gateway: GatewayProcess, management: Any, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")
    with pytest.raises(management.exceptions.GoneException) as gone:
        management.post_to_connection(ConnectionId=me, Data=b"{}")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId="NeverExisted0Aa=", Data=b"{}")


def test_the_app_sees_gone_exception_when_it_posts_to_a_closed_connection(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as sender:
        with connect(echo_gateway.ws_url) as receiver:
            target = whoami(receiver)
        wait_for(lambda: store.lrange("disconnected", 0, -1) == [target], what="$disconnect")
        send(sender, {"action": "send_to", "target": target, "text": "hi"})
        assert recv_json(sender) == {"gone": target}
    assert store.lrange("gone", 0, -1) == [target]


def test_get_connection_reports_connected_at_identity_and_last_active(
    echo_gateway: GatewayProcess, management: Any
) -> None:
    with connect(echo_gateway.ws_url, user_agent_header="gateway-test/1.0") as ws:
        me = whoami(ws)
        info = management.get_connection(ConnectionId=me)
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "gateway-test/1.0"}
    assert isinstance(info["ConnectedAt"], datetime) and isinstance(info["LastActiveAt"], datetime)
    assert info["ConnectedAt"] <= info["LastActiveAt"]


def test_delete_connection_closes_the_socket_and_fires_disconnect(
    echo_gateway: GatewayProcess, management: Any, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        management.delete_connection(ConnectionId=me)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")
    assert recorded_types(store, me) == ["CONNECT", "MESSAGE", "DISCONNECT"]
    with pytest.raises(management.exceptions.GoneException):
        management.delete_connection(ConnectionId=me)


def test_the_app_can_delete_its_own_connection(echo_gateway: GatewayProcess, store: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        send(ws, {"action": "delete_me"})
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")


def test_post_over_128_kb_is_refused_with_payload_too_large(echo_gateway: GatewayProcess, management: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        with pytest.raises(ClientError) as refused:
            management.post_to_connection(ConnectionId=me, Data=b"x" * (128 * 1024 + 1))
        assert refused.value.response["Error"]["Code"] == "PayloadTooLargeException"
        management.post_to_connection(ConnectionId=me, Data=b"x" * (128 * 1024))
        assert len(ws.recv(timeout=5)) == 128 * 1024


def test_a_stage_other_than_the_apis_is_forbidden(echo_gateway: GatewayProcess) -> None:
    response = urllib3.request("POST", f"{echo_gateway.http_url}/prod/@connections/abc%3D", body=b"{}")
    assert response.status == 403
    assert response.headers["x-amzn-ErrorType"] == "ForbiddenException"
    assert "message" in json.loads(response.data)
