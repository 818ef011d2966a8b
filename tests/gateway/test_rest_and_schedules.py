"""REST routes through chalice.local, schedules like EventBridge, and the app's environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import urllib3

from tests.gateway.clients import connect, recv_json, send, wait_for
from tests.gateway.gateway_process import GatewayProcess

AWS_EVENTS = Path(__file__).parent / "aws_events"


def test_rest_routes_are_served_on_the_same_port(echo_gateway: GatewayProcess) -> None:
    response = urllib3.request("GET", f"{echo_gateway.http_url}/hello?name=ada")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.data) == {"hello": "world", "query": {"name": "ada"}}


def test_rest_routes_get_path_parameters_and_json_bodies(echo_gateway: GatewayProcess) -> None:
    response = urllib3.request(
        "POST", f"{echo_gateway.http_url}/items/42", body=b'{"colour": "teal"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    assert json.loads(response.data) == {"id": "42", "body": {"colour": "teal"}}


def test_an_unknown_path_answers_like_api_gateway(echo_gateway: GatewayProcess) -> None:
    response = urllib3.request("GET", f"{echo_gateway.http_url}/nowhere")
    assert response.status == 403
    assert json.loads(response.data) == {"message": "Missing Authentication Token"}


def test_a_plain_http_request_to_the_websocket_path_is_told_to_upgrade(echo_gateway: GatewayProcess) -> None:
    response = urllib3.request("GET", f"{echo_gateway.http_url}/ws")
    assert response.status == 426
    assert echo_gateway.ws_url in response.data.decode()


def test_the_schedule_runs_with_an_eventbridge_scheduled_event(echo_gateway: GatewayProcess, store: Any) -> None:
    raw = wait_for(lambda: store.lrange("schedule", 0, -1), timeout=3, what="a scheduled run")
    event = json.loads(raw[0])
    reference = json.loads((AWS_EVENTS / "scheduled.json").read_text())
    assert set(event) == set(reference)
    assert (event["detail-type"], event["source"], event["detail"]) == ("Scheduled Event", "aws.events", {})
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/echo-dev-sweep-event"]
    wait_for(lambda: store.llen("schedule") >= 3, timeout=3, what="the schedule to repeat")


def test_the_app_sees_the_gateways_urls_and_the_config_environment(
    echo_gateway: GatewayProcess, gateway_redis_url: str
) -> None:
    with connect(echo_gateway.ws_url) as ws:
        send(ws, {"action": "env"})
        env = recv_json(ws)
    assert env == {
        # The gateway's Redis wins over the REDIS_URL in .chalice/config.json.
        "REDIS_URL": gateway_redis_url,
        "MANAGEMENT_API_URL": echo_gateway.management_url,
        "WEBSOCKET_URL": echo_gateway.ws_url,
        "ECHO_GREETING": "hello from .chalice/config.json",
        "AWS_REGION": "us-east-1",
    }


def test_each_event_is_logged_on_one_line(echo_gateway: GatewayProcess) -> None:
    with connect(echo_gateway.ws_url) as ws:
        send(ws, {"action": "echo"})
        recv_json(ws)

    def echo_line() -> str | None:
        lines = echo_gateway.output().splitlines()
        return next((line for line in reversed(lines) if "$default" in line and " echo " in line), None)

    fields = wait_for(echo_line, what="the $default log line").split()
    lines = echo_gateway.output().splitlines()
    assert fields[2:5] == ["$default", "echo", "200"] and fields[-1] == "ms"
    assert any("$connect" in line and fields[1] in line for line in lines)
