"""app.py as Lambda would run it: the Chalice entry points, the schedule and GET /health."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib import config, service
from testkit.events import connect_event, disconnect_event, message_event, new_connection_id, sample
from testkit.policies import RELAXED_NO_METRICS as RELAXED


@pytest.fixture
def lambda_app(redis_server, redis_client, aws, management_api, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("MANAGEMENT_API_URL", management_api.endpoint)
    for name, value in RELAXED.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    service.default.cache_clear()
    import app

    yield app
    config.settings.cache_clear()
    service.default.cache_clear()


def test_lambda_entry_points_pair_two_strangers_and_relay_chat(lambda_app, management_api):
    received = management_api.received
    a, b = new_connection_id(), new_connection_id()
    assert lambda_app.connect(connect_event(a), None) == {"statusCode": 200}
    assert lambda_app.connect(connect_event(b), None) == {"statusCode": 200}
    lambda_app.message(message_event(a, {"action": "register", "name": "ann"}), None)
    lambda_app.message(message_event(b, {"action": "register", "name": "ben"}), None)
    room = received(b)[-1]["room_code"]
    lambda_app.message(message_event(b, {"action": "chat", "room_code": room, "message": "hey"}), None)
    lambda_app.disconnect(disconnect_event(b), None)
    events_a = received(a)
    assert [e["event"] for e in events_a] == ["queued", "matched", "chat", "peer-disconnected"]
    assert events_a[2]["sender"] == "ben" and events_a[2]["message"] == "hey"
    assert [e["event"] for e in received(b)] == ["matched"]


def test_scheduled_sweep_runs_from_a_real_eventbridge_event(lambda_app, redis_client):
    a = new_connection_id()
    lambda_app.connect(connect_event(a, connected_at=1), None)  # connected long ago: past the 2-hour cap
    assert redis_client.zscore("{rvc}:alive", a) is not None
    lambda_app.sweep(sample("schedule"), None)
    assert redis_client.zscore("{rvc}:alive", a) is None


def test_health_reports_service_name_and_redis(lambda_app):
    with Client(lambda_app.app) as client:
        response = client.http.get("/health")
    assert response.status_code == 200
    assert json.loads(response.body) == {"service": "randomchat", "redis": True}


def test_health_says_503_when_redis_does_not_answer(lambda_app, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", "0.2")
    config.settings.cache_clear()
    service.default.cache_clear()
    with Client(lambda_app.app) as client:
        response = client.http.get("/health")
    assert response.status_code == 503
    assert json.loads(response.body) == {"service": "randomchat", "redis": False}


def test_the_page_and_its_assets_are_served_with_security_headers(lambda_app):
    with Client(lambda_app.app) as client:
        page = client.http.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert b"<!doctype html>" in page.body.lower()


def test_unknown_or_hidden_assets_are_404(lambda_app):
    with Client(lambda_app.app) as client:
        for path in ("/static/nope.js", "/static/..%2Fconfig.py", "/static/.hidden.js"):
            assert client.http.get(path).status_code == 404, path


def test_config_tells_the_page_where_the_websocket_api_is(lambda_app, monkeypatch):
    monkeypatch.setenv("WEBSOCKET_URL", "wss://abc.execute-api.us-east-1.amazonaws.com/api")
    config.settings.cache_clear()
    service.default.cache_clear()
    with Client(lambda_app.app) as client:
        body = json.loads(client.http.get("/config").body)
    assert body["websocket_url"] == "wss://abc.execute-api.us-east-1.amazonaws.com/api"
    assert body["max_chat_chars"] == 1000 and body["ping_interval_seconds"] == 300
    assert body["interest_fallback_seconds"] == 10


def test_stats_route_reads_the_live_figures(lambda_app):
    with Client(lambda_app.app) as client:
        response = client.http.get("/stats")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "max-age=5"
    assert json.loads(response.body) == {
        "online": 0, "waiting": 0, "chatting": 0, "chats_in_progress": 0,
        "matches_last_minute": 0, "median_wait_ms": None,
    }
