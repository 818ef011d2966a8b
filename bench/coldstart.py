"""Cold start and size: what a new Lambda container pays, and what it ships.

* Import time of the Lambda entry module (``app``) in a fresh interpreter, median of several
  runs; interpreter start-up itself is not counted (Lambda's runtime pays it before our code).
* Peak RSS (``ru_maxrss``) after the import, after the first ``$connect`` (opens the Redis
  connection) and after the first message that posts (opens the Management API connection),
  with each of those first calls' latency.
* The deployment package ``chalice package`` builds (it downloads Linux wheels from PyPI), from
  a copy of the project kept in ``bench-results/package-project`` so its wheel cache survives.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import PROJECT_DIR, Progress, Quiet, task

CHILD = r"""
import json, os, resource, sys, time
def rss_mb():
    # Peak resident set size of this process image (VmHWM; ru_maxrss would include the forked parent).
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out = {"rss_before_import_mb": rss_mb()}
t = time.perf_counter()
import app
out["import_ms"] = (time.perf_counter() - t) * 1000
out["rss_after_import_mb"] = rss_mb()
if os.environ.get("BENCH_FIRST_EVENT"):
    from testkit.events import connect_event, message_event, new_connection_id
    cid = new_connection_id()
    t = time.perf_counter()
    status = app.connect(connect_event(cid), None)
    out["first_connect_ms"] = (time.perf_counter() - t) * 1000
    out["rss_after_first_connect_mb"] = rss_mb()
    t = time.perf_counter()
    app.message(message_event(cid, {"action": "register", "name": "cold"}), None)
    out["first_post_ms"] = (time.perf_counter() - t) * 1000
    out["rss_after_first_post_mb"] = rss_mb()
    t = time.perf_counter()
    app.message(message_event(cid, {"action": "ping"}), None)
    out["warm_message_ms"] = (time.perf_counter() - t) * 1000
    out["rss_after_warm_message_mb"] = rss_mb()
    out["connect_status"] = status
print("BENCH-RESULT " + json.dumps(out))
"""


def _child_env(redis_url: str, management_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCALDEV_", "PYTHON"))}
    env.update(REDIS_URL=redis_url, MANAGEMENT_API_URL=management_url, AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               PYTHONDONTWRITEBYTECODE="")
    return env


def _child(env: dict[str, str], first_event: bool, importtime: bool = False) -> tuple[dict[str, Any], str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD]
    proc = subprocess.run(args, cwd=PROJECT_DIR, env={**env, **({"BENCH_FIRST_EVENT": "1"} if first_event else {})},
                          capture_output=True, text=True, timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT ")), proc.stderr
    raise RuntimeError(f"cold-start child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def top_imports(stderr: str, top: int = 10) -> list[tuple[str, float]]:
    """Import time by top-level package (each module's own time, summed), from ``-X importtime``."""
    by_package: Counter[str] = Counter()
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|")
        if own.strip().isdigit():
            by_package[name.strip().split(".")[0]] += int(own) / 1000
    return [(name, round(ms, 1)) for name, ms in by_package.most_common(top)]


def measure_imports(redis_url: str, management_url: str, runs: int = 7,
                    progress: Progress | None = None) -> dict[str, Any]:
    progress = progress or Quiet()
    env = _child_env(redis_url, management_url)
    results = []
    with task(progress, "cold start: fresh interpreters", runs + 1) as bar:
        _child(env, first_event=False)  # compile .pyc files once, as the package ships them compiled
        for _ in range(runs):
            results.append(_child(env, first_event=True)[0])
            progress.advance(bar)
        _, stderr = _child(env, first_event=False, importtime=True)
        progress.advance(bar)

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in results), 1)

    def peak(key: str) -> float:
        return round(max(r[key] for r in results), 1)

    return {
        "runs": runs,
        "import_ms_median": med("import_ms"),
        "import_ms_all": [round(r["import_ms"], 1) for r in results],
        "first_connect_ms_median": med("first_connect_ms"),
        "first_post_ms_median": med("first_post_ms"),
        "warm_message_ms_median": med("warm_message_ms"),
        "rss_mb": {
            "interpreter": peak("rss_before_import_mb"),
            "after_import": peak("rss_after_import_mb"),
            "after_first_connect": peak("rss_after_first_connect_mb"),
            "after_first_post": peak("rss_after_first_post_mb"),
            "after_warm_message": peak("rss_after_warm_message_mb"),
        },
        "top_imports_ms": top_imports(stderr),
        "connect_status": results[0]["connect_status"],
    }


def package_project(dest: Path) -> None:
    """The files ``chalice package`` reads, with IAM policy files swapped for an autogenerated
    policy: policies do not change the package, and the deploy stage's files may not exist yet."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROJECT_DIR / "app.py", dest / "app.py")
    shutil.copy2(PROJECT_DIR / "requirements.txt", dest / "requirements.txt")
    if (dest / "chalicelib").exists():
        shutil.rmtree(dest / "chalicelib")
    shutil.copytree(PROJECT_DIR / "chalicelib", dest / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            node.pop("iam_policy_file", None)
            if "autogen_policy" in node:
                node["autogen_policy"] = True
            for value in node.values():
                strip(value)

    strip(config)
    (dest / ".chalice").mkdir(exist_ok=True)
    (dest / ".chalice" / "config.json").write_text(json.dumps(config, indent=2))


def measure_package(stage: str = "dev", progress: Progress | None = None) -> dict[str, Any]:
    progress = progress or Quiet()
    project = PROJECT_DIR / "bench-results" / "package-project"
    package_project(project)
    chalice = Path(sys.executable).with_name("chalice")
    with task(progress, "chalice package (downloads wheels)", None), tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        proc = subprocess.run([str(chalice), "package", "--stage", stage, out], cwd=project,
                              env={"AWS_DEFAULT_REGION": "us-east-1", **os.environ},
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout)[-2000:]}
        elapsed = time.perf_counter() - start
        zipped = Path(out) / "deployment.zip"
        with zipfile.ZipFile(zipped) as archive:
            parts: Counter[str] = Counter()
            for info in archive.infolist():
                parts[info.filename.split("/")[0]] += info.file_size
        return {
            "stage": stage,
            "zip_mb": round(zipped.stat().st_size / 1e6, 2),
            "unzipped_mb": round(sum(parts.values()) / 1e6, 2),
            "largest_mb": [(name, round(size / 1e6, 2)) for name, size in parts.most_common(8)],
            "build_s": round(elapsed, 1),
        }
