"""Shared pieces of the benchmarks: percentiles, the machine description and progress reporting.

Progress and tables use ``rich`` (pinned in requirements-dev.txt). Every benchmark takes a
``Progress``-like object; :class:`Quiet` is the silent one the smoke tests pass.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Settings the benchmarks give the app. Every simulated user comes from one address and acts
# faster than a person, so the abuse policies (per-address admission, per-connection rate
# limits) get limits that never trigger: their Redis work still runs, inside the same scripts.
# No resume grace and no repeat block, so that "nothing left in Redis after everyone leaves"
# can be checked at once (by default held seats and no-repeat pairs expire after 15 s / 300 s).
# The sweep makes one pass per tick, as a tick is measured.
APP_ENV = {
    "RATE_LIMITS": '{"signal": [1e9, 1e9], "chat": [1e9, 1e9], "typing": [1e9, 1e9], '
    '"seek": [1e9, 1e9], "misc": [1e9, 1e9], "abuse": [1e9, 1e9]}',
    "MAX_CONNECTIONS_PER_IP": "100000",
    "CONNECTIONS_PER_IP_PER_MINUTE": "100000",
    "REPEAT_BLOCK_SECONDS": "0",
    "RESUME_GRACE_SECONDS": "0",
    "SWEEP_WINDOW_SECONDS": "0",
}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def summary_ms(values_ms: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max and the mean of a list of milliseconds, rounded for people and JSON."""
    if not values_ms:
        return {"n": 0, "p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan, "mean": math.nan}
    return {
        "n": len(values_ms),
        "p50": round(percentile(values_ms, 50), 3),
        "p90": round(percentile(values_ms, 90), 3),
        "p99": round(percentile(values_ms, 99), 3),
        "max": round(max(values_ms), 3),
        "mean": round(sum(values_ms) / len(values_ms), 3),
    }


def machine() -> dict[str, Any]:
    """Where the figures came from: cores, CPU model, Python, and how busy the machine was."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


class Progress(Protocol):
    def add_task(self, description: str, total: float | None = ..., **fields: Any) -> Any: ...

    def advance(self, task_id: Any, advance: float = 1) -> None: ...

    def update(self, task_id: Any, **fields: Any) -> None: ...

    def remove_task(self, task_id: Any) -> None: ...


class Quiet:
    """A progress sink that shows nothing (tests, ``--quiet``)."""

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        return 0

    def advance(self, task_id: Any, advance: float = 1) -> None:
        pass

    def update(self, task_id: Any, **fields: Any) -> None:
        pass

    def remove_task(self, task_id: Any) -> None:
        pass


@contextmanager
def task(progress: Progress, description: str, total: float | None) -> Iterator[Any]:
    """A progress bar for one step, removed when the step ends."""
    task_id = progress.add_task(description, total=total)
    try:
        yield task_id
    finally:
        progress.remove_task(task_id)
