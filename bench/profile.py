"""Summarize a py-spy "raw" (collapsed stacks) profile: where the sampled time went.

    python -m bench.profile bench-results/gateway-profile.txt

Prints the share of samples per category (the buckets below, first match wins, scanning each
stack from its innermost frame outwards) and the top functions by self and by inclusive time.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# (bucket, pattern on "function (file:line)"), innermost frame first; first match wins.
BUCKETS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in [
        ("gateway: event-line logging", r"eventlog\.py|logging/__init__\.py"),
        ("boto3/botocore: post_to_connection client side", r"botocore/|boto3/|urllib3/"),
        ("redis-py client", r"redis/"),
        ("pydantic parse/validate", r"pydantic"),
        ("app: chalicelib / app.py", r"chalicelib/|\(app\.py"),
        ("chalice event wrapper", r"chalice/"),
        ("aiohttp: HTTP server (Management API)", r"aiohttp/web_protocol|aiohttp/web_request|aiohttp/http_parser|"
                                                  r"aiohttp/web_response|aiohttp/web_app|aiohttp/web_urldispatcher|"
                                                  r"localdev/management\.py"),
        ("aiohttp: WebSocket frames", r"aiohttp/_websocket|aiohttp/web_ws|aiohttp/http_websocket|"
                                      r"localdev/websocket\.py|localdev/connections\.py"),
        ("gateway: events and invoker", r"localdev/"),
        ("asyncio event loop / selectors", r"asyncio/|selectors\.py"),
        ("threads / executor", r"threading\.py|concurrent/futures"),
    ]
]


def parse(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def bucket(stack: tuple[str, ...]) -> str:
    for frame in reversed(stack):
        for name, pattern in BUCKETS:
            if pattern.search(frame):
                return name
    return "other"


def process_of(stack: tuple[str, ...]) -> str:
    """With ``py-spy --subprocesses`` each stack starts with its process chain; the last one counts."""
    chain = [frame for frame in stack if frame.startswith("process ")]
    if not chain:
        return "gateway"
    return "handler worker processes" if "multiprocessing" in chain[-1] else "gateway"


def summarize(path: Path, top: int = 15) -> dict[str, object]:
    stacks = parse(path)
    total = sum(stacks.values()) or 1
    buckets: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        buckets[bucket(stack)] += count
        processes[process_of(stack)] += count
        own[stack[-1]] += count
        for frame in set(stack):
            inclusive[frame] += count
    return {
        "samples": total,
        "buckets": {k: round(100 * v / total, 1) for k, v in buckets.most_common()},
        "processes": {k: round(100 * v / total, 1) for k, v in processes.most_common()},
        "self": [(f, round(100 * v / total, 1)) for f, v in own.most_common(top)],
        "inclusive": [(f, round(100 * v / total, 1)) for f, v in inclusive.most_common(top)],
    }


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    result = summarize(Path(args[0]))
    print(f"{result['samples']} samples (GIL-holding threads)")
    print("by process: " + ", ".join(f"{k} {v} %" for k, v in result["processes"].items()))  # type: ignore[attr-defined]
    print("\nwhere the time went:")
    for name, pct in result["buckets"].items():  # type: ignore[attr-defined]
        print(f"  {pct:5.1f} %  {name}")
    for title in ("self", "inclusive"):
        print(f"\ntop functions, {title} time:")
        for frame, pct in result[title]:  # type: ignore[attr-defined]
            print(f"  {pct:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
