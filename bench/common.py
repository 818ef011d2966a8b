"""Shared pieces of the benchmarks: percentiles, the machine description and progress reporting.

Progress and tables use ``rich`` (pinned in requirements-dev.txt). Every benchmark takes a
``Progress``-like object; :class:`Quiet` is the silent one the smoke tests pass.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from testkit.policies import RELAXED

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Settings the benchmarks give the app: the relaxed policies the tests use too (testkit/policies.py).
# Every simulated user comes from one address and acts faster than a person, and "nothing left in
# Redis after everyone leaves" is checked at once. Metrics stay on, as in production.
APP_ENV = dict(RELAXED)


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


def design_tree(rev: str, into: Path) -> Path | None:
    """``chalicelib`` and ``testkit`` as they were at ``rev``, in ``into``; None if this clone lacks it.
    A benchmark that compares designs runs the earlier one from such a tree."""
    archive = subprocess.run(["git", "-C", str(PROJECT_DIR), "archive", rev, "chalicelib", "testkit"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def run_in_tree(tree: Path, module: str, call: str) -> Any:
    """``module``'s ``call`` (a Python expression whose value is JSON-able) in a fresh interpreter
    that imports ``chalicelib`` and ``testkit`` from ``tree`` first: each design in its own process."""
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.append({str(PROJECT_DIR)!r}); "
            f"import json, {module}; print(json.dumps({module}.{call}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tree)
    return json.loads(done.stdout.strip().splitlines()[-1])
