"""The app's own sender against the local gateway's Management API: the path `make dev` takes."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chalicelib.sender import ManagementApiSender
from tests.gateway.clients import connect, wait_for, whoami
from tests.gateway.gateway_process import GatewayProcess


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> ManagementApiSender:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "localdev")  # what the gateway gives the app when unset
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "localdev")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return ManagementApiSender("us-east-1")


def test_the_apps_sender_delivers_each_event_as_one_text_frame(echo_gateway: GatewayProcess, sender) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        for n in range(3):
            assert sender.post(echo_gateway.management_url, me, {"event": "chat", "n": n, "message": "héllo"}) is True
        assert [ws.recv(timeout=5) for _ in range(3)] == [
            f'{{"event":"chat","n":{n},"message":"héllo"}}' for n in range(3)]


def test_the_apps_sender_sees_a_closed_connection_as_gone(echo_gateway: GatewayProcess, sender, store: Any) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")
    assert sender.post(echo_gateway.management_url, me, {"event": "pong"}) is False
    assert sender.post(echo_gateway.management_url, "NeverExisted0Aa=", {"event": "pong"}) is False


def test_the_apps_sender_closes_a_socket_and_the_gateway_runs_disconnect(
    echo_gateway: GatewayProcess, sender, store: Any
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        me = whoami(ws)
        sender.close(echo_gateway.management_url, me)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    wait_for(lambda: store.lrange("disconnected", 0, -1) == [me], what="$disconnect")
    sender.close(echo_gateway.management_url, me)  # closing it again is fine: 410
