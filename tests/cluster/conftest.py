"""Cluster mode: the handler tests again, against three Valkey primaries in cluster mode.

A conftest in this directory overrides ``redis_server`` and ``redis_client`` from tests/conftest.py
for the tests collected here (pytest resolves a fixture from the closest conftest), and wraps its
``settings`` and ``policy_settings`` to select the cluster client, so the relaxed and production
policies stay exactly as the originals define them. The test modules here import the original tests unchanged, so the same handlers,
through redis-py's ``RedisCluster`` (``REDIS_CLUSTER=true``), must pass with no ``CROSSSLOT``.

The cluster is real (``localdev.redis_cluster``): three ``valkey-server --cluster-enabled yes``
processes on loopback. The app's lobby lives on one node; the client is seeded with another, so
it has to discover the topology and follow it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import RedisCluster

from chalicelib.config import Settings
from localdev.redis_cluster import LocalCluster

# Keep the failure messages of the imported tests as detailed as in their own modules.
pytest.register_assert_rewrite(
    "tests.test_matching",
    "tests.test_signalling",
    "tests.test_disconnect_and_gone",
    "tests.test_sweep",
    "tests.test_concurrency",
    "tests.test_errors",
    "tests.robustness.test_duplicates",
    "tests.features.test_devices",
    "tests.features.test_interests",
    "tests.features.test_limits",
    "tests.features.test_lobby",
    "tests.features.test_no_repeat",
    "tests.features.test_report_and_ban",
    "tests.features.test_resume",
    "tests.features.test_shared_address",
    "tests.features.test_stats_and_metrics",
    "tests.features.test_typing_and_turn",
)

@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server(local_cluster: LocalCluster) -> LocalCluster:
    """Overrides tests/conftest.py: anything with ``.url`` will do, and here it is the cluster."""
    return local_cluster


@pytest.fixture
def redis_client(local_cluster: LocalCluster) -> Iterator[Any]:
    """A cluster client for assertions, every primary flushed before and after each test."""
    client = RedisCluster.from_url(local_cluster.url, decode_responses=True)
    client.flushall()  # redis-py sends FLUSHALL to every primary
    yield client
    client.flushall()
    client.close()


@pytest.fixture
def redis_env(redis_env: dict[str, str]) -> dict[str, str]:
    return {**redis_env, "REDIS_CLUSTER": "true"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """tests/conftest.py's settings (already on the cluster's URL), with the cluster client."""
    return settings.model_copy(update={"redis_cluster": True})


@pytest.fixture
def policy_settings(policy_settings: Settings) -> Settings:
    return policy_settings.model_copy(update={"redis_cluster": True})
