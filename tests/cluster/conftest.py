"""Cluster mode: the handler tests again, against three Valkey primaries in cluster mode.

A conftest in this directory overrides ``redis_server`` and ``redis_client`` from tests/conftest.py
for the tests collected here (pytest resolves a fixture from the closest conftest), and wraps its
``settings`` and ``policy_settings`` to select the cluster client, so the relaxed and production
policies stay exactly as the originals define them. The test modules here import the original tests unchanged, so the same handlers,
through redis-py's ``RedisCluster`` (``REDIS_CLUSTER=true``), must pass with no ``CROSSSLOT``.

The cluster is real: three ``valkey-server --cluster-enabled yes`` processes on loopback, slots
split in three ranges, joined with CLUSTER MEET. The app's hash tag lives on one node; the
client is seeded with another, so it has to discover the topology and follow it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from chalicelib.config import Settings
from chalicelib.keys import Keys
from localdev.redis_server import RedisServer, free_port

# Keep the failure messages of the imported tests as detailed as in their own modules.
pytest.register_assert_rewrite(
    "tests.test_matching",
    "tests.test_signalling",
    "tests.test_disconnect_and_gone",
    "tests.test_sweep",
    "tests.test_concurrency",
    "tests.test_errors",
    "tests.robustness.test_duplicates",
)

SLOTS = 16384
PRIMARIES = 3


@dataclass
class LocalCluster:
    """Three primaries on loopback, each owning a third of the slots."""

    nodes: list[RedisServer] = field(default_factory=list)
    bus_ports: list[int] = field(default_factory=list)
    slot_ranges: list[tuple[int, int]] = field(default_factory=list)
    seed: RedisServer | None = None

    @property
    def url(self) -> str:
        """The URL the app gets: a node that does not own the app's slot."""
        assert self.seed is not None
        return self.seed.url

    def start(self, timeout: float = 20.0) -> LocalCluster:
        for _ in range(PRIMARIES):
            bus = free_port()
            node = RedisServer(
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",  # inside the server's own temp dir
                    "--cluster-port",
                    str(bus),  # the default, port + 10000, may not exist
                    "--cluster-node-timeout",
                    "5000",
                ]
            )
            self.nodes.append(node.start())
            self.bus_ports.append(bus)
        per_node = SLOTS // PRIMARIES
        for index, node in enumerate(self.nodes):
            first = index * per_node
            last = SLOTS - 1 if index == PRIMARIES - 1 else first + per_node - 1
            self._direct(node).execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            self.slot_ranges.append((first, last))
        for node, bus in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
            self._direct(self.nodes[0]).execute_command("CLUSTER", "MEET", node.host, node.port, bus)
        self._wait_ok(timeout)
        owner = self.owner_of(Keys("rvc").tag)
        self.seed = next(node for node in self.nodes if node is not owner)
        return self

    def _direct(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(host=node.host, port=node.port, decode_responses=True)

    def _wait_ok(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            infos = [self._direct(node).cluster("info") for node in self.nodes]
            if all(i["cluster_state"] == "ok" and int(i["cluster_known_nodes"]) == PRIMARIES for i in infos):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local cluster did not converge: {infos}")
            time.sleep(0.05)

    def owner_of(self, key: str) -> RedisServer:
        slot = int(self._direct(self.nodes[0]).execute_command("CLUSTER", "KEYSLOT", key))
        return next(node for node, (a, b) in zip(self.nodes, self.slot_ranges, strict=True) if a <= slot <= b)

    def direct(self, node: RedisServer) -> redis.Redis:
        """A plain (non-cluster) connection to one node, to see what each node holds."""
        return self._direct(node)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


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
def settings(settings: Settings) -> Settings:
    """tests/conftest.py's settings (already on the cluster's URL), with the cluster client."""
    return settings.model_copy(update={"redis_cluster": True})


@pytest.fixture
def policy_settings(policy_settings: Settings) -> Settings:
    return policy_settings.model_copy(update={"redis_cluster": True})
