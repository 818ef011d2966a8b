"""A real Valkey cluster on loopback: three primaries, each owning a third of the slots.

For the cluster tests (tests/cluster) and the cluster benchmark (bench/cluster_spread.py): three
``valkey-server --cluster-enabled yes`` processes, slots split in three ranges, joined with
CLUSTER MEET. ``seed`` is a node that does not own the lobby's slot, so a client seeded with it
has to discover the topology and follow it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis

from chalicelib.keys import Keys
from localdev.redis_server import RedisServer, free_port

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

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
