"""Fixtures for the gateway tests: gateway processes on free ports, on their own Redis database.

The gateway tests use database 1 of the session's Valkey (``redis_server`` from
tests/conftest.py), so a gateway's background work never touches the state the unit tests
assert on in database 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from localdev.redis_server import RedisServer
from tests.gateway.gateway_process import ECHO_APP, GatewayProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/gateway/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.gateway)


@pytest.fixture(scope="session")
def gateway_redis_url(redis_server: RedisServer) -> str:
    return f"redis://{redis_server.host}:{redis_server.port}/1"


@pytest.fixture
def store(gateway_redis_url: str) -> Iterator[Any]:
    """The gateway tests' Redis database, empty at the start of every test."""
    client = redis.Redis.from_url(gateway_redis_url, decode_responses=True)
    client.flushdb()
    yield client
    _wait_until_every_connection_ended(client)
    client.flushdb()
    client.close()


def _wait_until_every_connection_ended(client: Any, timeout: float = 5.0) -> None:
    """Let the $disconnect of a test's last sockets land before the next test's flush.

    A connection has ended when the echo app's $disconnect made its last write, the push onto
    ``disconnected``. Its recorded DISCONNECT event comes a moment earlier, so flushing on that
    let the push land in the next test's database under load.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        disconnected = set(client.lrange("disconnected", 0, -1))
        open_ids = []
        for key in client.keys("events:*"):
            events = [json.loads(e) for e in client.lrange(key, 0, -1)]
            accepted = not (events[0].get("queryStringParameters") or {}).get("reject")
            if accepted and key.removeprefix("events:") not in disconnected:
                open_ids.append(key)
        if not open_ids:
            return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def echo_gateway(gateway_redis_url: str) -> Iterator[GatewayProcess]:
    """The stand-in echo app behind the gateway, schedules every half second."""
    with GatewayProcess(ECHO_APP, "--schedule-interval", "0.5", redis_url=gateway_redis_url) as gateway:
        yield gateway
