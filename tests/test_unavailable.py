"""When Redis cannot be reached: 503 at $connect, 'unavailable' for actions, a log line, no crash."""

from __future__ import annotations

import logging

import pytest

from chalicelib import entry
from chalicelib.service import build
from chalicelib.store import Unavailable
from localdev.redis_server import RedisServer, free_port
from testkit.events import connect_event, disconnect_event, message_event, new_connection_id
from testkit.harness import RecordingSender


@pytest.fixture
def down_service(settings):
    config = settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 0.2}
    )
    sender = RecordingSender()
    return build(config, sender=sender), sender


def test_connect_is_rejected_with_503_when_redis_is_down(down_service, caplog):
    service, _ = down_service
    with caplog.at_level(logging.ERROR):
        assert entry.on_connect(connect_event(new_connection_id()), service) == {"statusCode": 503}
    assert "Redis unreachable during connect" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        {"action": "register"},
        {"action": "next"},
        {"action": "leave"},
        {"action": "ping"},
        {"action": "join", "room_code": "r"},
        {"action": "chat", "room_code": "r", "message": "hi"},
        {"action": "signal", "room_code": "r", "type": "offer", "data": {}},
    ],
)
def test_actions_answer_unavailable_when_redis_is_down(down_service, caplog, body):
    service, sender = down_service
    cid = new_connection_id()
    with caplog.at_level(logging.ERROR):
        assert entry.on_message(message_event(cid, body), service) == {"statusCode": 200}
    assert sender.received(cid) == [
        {"event": "error", "code": "unavailable", "message": "The service is temporarily unavailable; try again shortly.",
         "action": body["action"]}
    ]
    assert f"{body['action']} failed: Redis unreachable" in caplog.text


def test_disconnect_does_not_raise_but_a_sweep_that_cannot_run_fails_visibly(down_service, caplog):
    service, _ = down_service
    with caplog.at_level(logging.ERROR):
        assert entry.on_disconnect(disconnect_event(new_connection_id()), service) == {"statusCode": 200}
        with pytest.raises(Unavailable):  # counted in Lambda Errors, and in RandomChat/SweepFailures
            entry.on_schedule(service)
    assert "the sweep will evict it" in caplog.text and "sweep failed" in caplog.text


def test_service_resumes_without_manual_steps_when_redis_comes_back(settings):
    server = RedisServer().start()
    try:
        sender = RecordingSender()
        config = settings.model_copy(update={"redis_url": server.url, "redis_timeout_seconds": 0.5})
        service = build(config, sender=sender)
        cid = new_connection_id()
        assert entry.on_connect(connect_event(cid), service) == {"statusCode": 200}
        server.stop()
        entry.on_message(message_event(cid, {"action": "ping"}), service)
        assert sender.received(cid)[-1]["code"] == "unavailable"
        server.start()  # same port, empty data, as after a restart without persistence
        entry.on_message(message_event(cid, {"action": "ping"}), service)
        assert sender.received(cid)[-1]["code"] == "not_connected", "the client is told to reconnect"
        again = new_connection_id()
        assert entry.on_connect(connect_event(again), service) == {"statusCode": 200}
        entry.on_message(message_event(again, {"action": "register"}), service)
        assert sender.received(again) == [{"event": "queued", "status": "queued"}]
    finally:
        server.stop()
