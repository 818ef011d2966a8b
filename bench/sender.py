"""CPU per ``post_to_connection``: the boto3 sender the app used to have against the app's sender.

    python -m bench.sender                 # 2000 posts each, interleaved; prints the table
    python -m bench --only sender          # the same, inside make bench

Both post the same event to the same loopback Management API in another process (so the
server's work does not share our GIL; ``bench.handlers.loopback_api``), alternating one post of
each and swapping which goes first, so both see the same machine load. CPU is the calling
thread's own time (``time.thread_time``): serializing, signing and HTTP, which on Lambda is a
share of a vCPU proportional to memory (1769 MB = one vCPU), so every 0.1 ms of CPU here is
~0.7 ms of billed duration at 256 MB. docs/decisions/0002-leaner-post-to-connection.md.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")  # both sign, even loopback posts
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from bench.common import Progress, Quiet, summary_ms, task
from chalicelib.sender import CloseFailed, ManagementApiSender, Sender, encode

TARGET_CPU_MS = 0.2  # issue 15: "<= 0.2 ms of CPU per post in the bench"
EVENT = {"event": "signal", "room_code": "q2Xk3v0l1RjbYtN5m8sPAg7E", "from": "alice", "type": "candidate",
         "data": {"candidate": "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host", "sdpMid": "0",
                  "sdpMLineIndex": 0}}
OLD, NEW = "boto3 (before)", "app's sender (now)"


class Boto3Sender:
    """The app's sender until decision 0002 was applied, kept here only to be measured against:
    one boto3 client per endpoint, ``max_attempts: 2`` in standard mode, 2 s / 3 s timeouts."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, endpoint: str) -> Any:
        with self._lock:
            client = self._clients.get(endpoint)
            if client is None:
                import boto3
                from botocore.config import Config

                client = boto3.client(
                    "apigatewaymanagementapi", endpoint_url=endpoint, region_name=self.region,
                    config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 2, "mode": "standard"},
                                  max_pool_connections=64))
                self._clients[endpoint] = client
        return client

    def post(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        client = self._client(endpoint)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=encode(event))
        except client.exceptions.GoneException:
            return False
        except Exception:
            pass
        return True

    def close(self, endpoint: str, connection_id: str) -> None:
        client = self._client(endpoint)
        try:
            client.delete_connection(ConnectionId=connection_id)
        except client.exceptions.GoneException:
            return
        except Exception as exc:
            raise CloseFailed(f"delete_connection {connection_id} failed: {exc!r}") from exc


def compare(iterations: int = 2000, warmup: int = 50, progress: Progress | None = None) -> dict[str, Any]:
    """Both senders, interleaved, against one loopback endpoint: CPU and wall time per post."""
    from bench.handlers import loopback_api

    progress = progress or Quiet()
    senders: dict[str, Sender] = {OLD: Boto3Sender("us-east-1"), NEW: ManagementApiSender("us-east-1")}
    cpu: dict[str, list[float]] = {name: [] for name in senders}
    wall: dict[str, list[float]] = {name: [] for name in senders}
    delivered = {name: 0 for name in senders}
    with loopback_api() as endpoint, task(progress, "sender: CPU per post", warmup + iterations) as bar:
        for i in range(warmup + iterations):
            order = list(senders.items()) if i % 2 else list(senders.items())[::-1]
            for name, sender in order:
                c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
                ok = sender.post(endpoint, "AbCdEfGhIjKlMnO=", EVENT)
                w1, c1 = time.perf_counter_ns(), time.thread_time_ns()
                delivered[name] += ok
                if i >= warmup:
                    cpu[name].append((c1 - c0) / 1e6)
                    wall[name].append((w1 - w0) / 1e6)
            progress.advance(bar)
        gone = {name: sender.post(endpoint, "GoneGoneGoneGon=", EVENT) for name, sender in senders.items()}
    return {
        "iterations": iterations,
        "warmup": warmup,
        "target_cpu_ms": TARGET_CPU_MS,
        "senders": {name: {"cpu_ms": summary_ms(cpu[name]), "latency_ms": summary_ms(wall[name]),
                           "delivered": delivered[name] == warmup + iterations, "gone_is_false": gone[name] is False}
                    for name in senders},
    }


def rows(result: dict[str, Any]) -> list[list[str]]:
    """The table's rows: one per sender, then the saving."""
    out = []
    for name, r in result["senders"].items():
        c, w = r["cpu_ms"], r["latency_ms"]
        out.append([name, f"{c['p50']:.3f}", f"{c['p90']:.3f}", f"{c['p99']:.3f}", f"{c['mean']:.3f}",
                    f"{w['p50']:.3f}", "yes" if r["delivered"] and r["gone_is_false"] else "NO"])
    old, new = (result["senders"][k]["cpu_ms"]["mean"] for k in (OLD, NEW))
    out.append(["saving", "", "", "", f"{1 - new / old:.0%}" if old else "-", "", ""])
    return out


COLUMNS = ["sender", "CPU p50 ms", "CPU p90 ms", "CPU p99 ms", "CPU mean ms", "wall p50 ms", "contract kept"]


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    result = compare(int(args[0]) if args else 2000)
    print(f"CPU per post, {result['iterations']} posts each, interleaved (target <= {TARGET_CPU_MS} ms):")
    widths = [max(len(str(row[i])) for row in [COLUMNS, *rows(result)]) for i in range(len(COLUMNS))]
    for row in [COLUMNS, *rows(result)]:
        print("  ".join(str(cell).rjust(w) if i else str(cell).ljust(w) for i, (cell, w) in
                        enumerate(zip(row, widths, strict=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
