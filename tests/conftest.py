"""Session-wide services: a real Valkey on a free port, moto for AWS, a loopback Management API
and the app's handlers.

Every test starts from an empty Redis, an empty moto backend and a fresh Management API. moto
intercepts botocore clients only, and the app's sender speaks HTTP itself, so what each
connection received is read at a real HTTP Management API on loopback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

# Dummy AWS settings before anything signs a request; tests never reach AWS.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.pop("MANAGEMENT_API_URL", None)

import pytest
import redis
from moto import mock_aws

from chalicelib.config import Settings, load_settings
from chalicelib.keys import Keys
from chalicelib.service import Service, build
from localdev.redis_server import RedisServer
from testkit.fake_management_api import FakeManagementApi
from testkit.harness import FakeClock, Harness, RecordingSender
from testkit.policies import RELAXED_NO_METRICS as RELAXED
from tests.support.devices import TEST_IDENTITY_SECRET, DeviceHarness


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        os.environ["REDIS_URL"] = server.url
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def keys() -> Keys:
    return Keys("rvc")


@pytest.fixture
def redis_env(redis_server: RedisServer) -> dict[str, str]:
    """The settings that reach this run's Redis, for a test that builds its own configuration."""
    return {"REDIS_URL": redis_server.url}


@pytest.fixture
def settings(redis_server: RedisServer) -> Settings:
    return load_settings({"REDIS_URL": redis_server.url, "AWS_DEFAULT_REGION": "us-east-1", **RELAXED})


@pytest.fixture
def policy_settings(redis_server: RedisServer) -> Settings:
    """Production defaults for every policy (rate limits, no-repeat, resume grace, per-IP limits)."""
    return load_settings({"REDIS_URL": redis_server.url, "AWS_DEFAULT_REGION": "us-east-1", "METRICS_ENABLED": "false"})


def recording(config: Settings, clock: FakeClock) -> Harness:
    """Handlers on `config` with an in-memory sender, reachable as `harness.sender`."""
    sender = RecordingSender()
    harness = Harness(build(config, clock=clock, sender=sender), sender.received, clock)
    harness.sender = sender  # type: ignore[attr-defined]
    return harness


@pytest.fixture
def policy_harness(policy_settings: Settings, redis_client: Any, clock: FakeClock) -> Harness:
    return recording(policy_settings, clock)


@pytest.fixture
def device_harness(policy_settings: Settings, redis_client: Any, clock: FakeClock) -> DeviceHarness:
    """Production policies, with device identities signed (a person keeps theirs across sockets)."""
    config = policy_settings.model_copy(update={"identity_secret": TEST_IDENTITY_SECRET})
    sender = RecordingSender()
    harness = DeviceHarness(build(config, clock=clock, sender=sender), sender.received, clock)
    harness.sender = sender  # type: ignore[attr-defined]
    harness.people = {}
    return harness


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def management_api() -> Iterator[FakeManagementApi]:
    with FakeManagementApi() as api:
        yield api


@pytest.fixture
def service(settings: Settings, redis_client: Any, clock: FakeClock, aws: None,
            management_api: FakeManagementApi) -> Service:
    """The real service: real Redis, the app's own sender posting over HTTP to the loopback API."""
    return build(settings.model_copy(update={"management_api_url": management_api.endpoint}), clock=clock)


@pytest.fixture
def harness(service: Service, clock: FakeClock, management_api: FakeManagementApi) -> Harness:
    return Harness(service, management_api.received, clock)


@pytest.fixture
def gone_api(management_api: FakeManagementApi) -> FakeManagementApi:
    """The harness's Management API, where a test marks connections gone (410)."""
    return management_api


@pytest.fixture
def gone_harness(harness: Harness) -> Harness:
    """The same handlers, named for the tests about 410s."""
    return harness


@pytest.fixture
def recording_harness(settings: Settings, redis_client: Any, clock: FakeClock) -> Harness:
    return recording(settings, clock)
