"""app.py as Lambda would run it: the Chalice entry points, the schedule and GET /health."""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from chalicelib import config, service
from tests.support.events import connect_event, disconnect_event, message_event, new_connection_id, sample
from tests.support.frames import moto_frames


@pytest.fixture
def lambda_app(redis_server, redis_client, aws, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    config.settings.cache_clear()
    service.default.cache_clear()
    import app

    yield app
    config.settings.cache_clear()
    service.default.cache_clear()


def test_lambda_entry_points_pair_two_strangers_and_relay_chat(lambda_app):
    a, b = new_connection_id(), new_connection_id()
    assert lambda_app.connect(connect_event(a), None) == {"statusCode": 200}
    assert lambda_app.connect(connect_event(b), None) == {"statusCode": 200}
    lambda_app.message(message_event(a, {"action": "register", "name": "ann"}), None)
    lambda_app.message(message_event(b, {"action": "register", "name": "ben"}), None)
    lambda_app.message(message_event(b, {"action": "chat", "message": "hey"}), None)
    lambda_app.disconnect(disconnect_event(b), None)
    events_a = moto_frames(a)
    assert [e["event"] for e in events_a] == ["queued", "matched", "chat", "peer-disconnected"]
    assert events_a[2]["sender"] == "ben" and events_a[2]["message"] == "hey"
    assert [e["event"] for e in moto_frames(b)] == ["matched"]


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
