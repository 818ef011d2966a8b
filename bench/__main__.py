"""``python -m bench`` (``make bench``): every benchmark, tables on the terminal, JSON beside them.

    python -m bench                        # everything: ~4 minutes on 2 cores
    python -m bench --quick                # small sizes, no package build
    python -m bench --only load --users 5000 --arrival burst
    python -m bench --only load --profile  # py-spy profile of the gateway under load
    python -m bench --only sender          # CPU per post: boto3 before, the app's sender now

Writes ``bench-results/latest.json`` (every figure and the machine) and ``bench-results/latest.md``
(the tables as Markdown, for bench/README.md). Figures are for people: nothing here asserts timing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")

from bench import coldstart, cost, handlers, load, report, sender
from bench.common import PROJECT_DIR, Progress, machine

SECTIONS = ("handlers", "sender", "load", "cold", "cost")
# --quiet: no per-event log lines; --processes 2: handlers in two worker processes, so the
# app's CPU work (redis-py, boto3) runs beside the gateway's event loop, not under its GIL.
DEFAULT_GATEWAY_ARGS = "--quiet --processes 2"
HEADROOM = 0.8  # "fits in 128 MB with headroom": peak RSS at most 80 % of it


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    p.add_argument("--quick", action="store_true", help="small sizes (100 users, 100 calls), no package build")
    p.add_argument("--users", type=int, default=None, help="simulated users in the load run (default 1000)")
    p.add_argument("--arrival", choices=("burst", "steady", "both"), default="both")
    p.add_argument("--rate", type=float, default=10.0,
                   help="users per second for steady arrivals (default 10, ~140 invocations/s: well under "
                        "what the local gateway sustains on 2 cores even while other work runs)")
    p.add_argument("--iterations", type=int, default=None, help="timed calls per handler scenario (default 1000)")
    p.add_argument("--cold-runs", type=int, default=None, help="fresh interpreters for the import time (default 7)")
    p.add_argument("--no-package", action="store_true", help="skip `chalice package` (it downloads wheels)")
    p.add_argument("--gateway-args", default=DEFAULT_GATEWAY_ARGS,
                   help=f"options for python -m localdev, given as --gateway-args='...' "
                        f"(default {DEFAULT_GATEWAY_ARGS!r})")
    p.add_argument("--stage", default="dev", help="Chalice stage for memory size and package (default dev)")
    p.add_argument("--call-minutes", type=float, default=cost.Assumptions.call_minutes,
                   help="cost model: minutes both strangers stay connected per match")
    p.add_argument("--profile", action="store_true",
                   help="sample the gateway with py-spy during each load run (bench-results/gateway-profile-*.txt)")
    p.add_argument("--timeout", type=float, default=None, help="give up on a load run after this many seconds")
    p.add_argument("--out", type=Path, default=PROJECT_DIR / "bench-results" / "latest.json")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    args.users = args.users or (100 if args.quick else 1000)
    args.iterations = args.iterations or (100 if args.quick else 1000)
    args.cold_runs = args.cold_runs or (3 if args.quick else 7)
    args.no_package = args.no_package or args.quick
    if args.users < 2:
        p.error("--users must be at least 2")
    return args


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets against the figures; ``met`` is None where the figure is missing."""
    rows: list[dict[str, Any]] = []

    def add(target: str, figure: str, met: bool | None) -> None:
        rows.append({"target": target, "figure": figure, "met": met})

    h = results.get("handlers")
    if h:
        acts = h["actions"]
        user_actions = {k: v for k, v in acts.items() if not k.startswith("sweep")}
        worst = max(user_actions.items(), key=lambda kv: kv[1]["round_trips"]["max"])
        add("any action: <= 2 Redis round trips", f"max {worst[1]['round_trips']['max']} ({worst[0]})",
            worst[1]["round_trips"]["max"] <= 2)
        sweeps = {k: v["round_trips"]["max"] for k, v in acts.items() if k.startswith("sweep")}
        if sweeps:
            add("sweep tick: <= 2 Redis round trips", ", ".join(f"{k}: {v}" for k, v in sweeps.items()),
                max(sweeps.values()) <= 2)
        exact = {k: v["round_trips"] for k, v in acts.items() if k.split(" ")[0] in ("register", "signal", "chat")}
        add("register, signal, chat: exactly 1 round trip",
            ", ".join(f"{k}: {_span(v)}" for k, v in exact.items()),
            all(v["min"] == v["max"] == 1 for v in exact.values()))
        sig = max(acts[k]["latency_ms"]["p50"] for k in acts if k.startswith("signal"))
        reg = max(acts[k]["latency_ms"]["p50"] for k in acts if k.startswith("register"))
        add("in-process p50: signal <= 0.5 ms", f"{sig:.3f} ms (slower of offer, candidate)", sig <= 0.5)
        add("in-process p50: register <= 1 ms", f"{reg:.3f} ms (slower of queued, matched)", reg <= 1.0)
    posts = results.get("sender")
    if posts:
        now = posts["senders"][sender.NEW]
        before = posts["senders"][sender.OLD]["cpu_ms"]["p50"]
        add(f"Management API sender: CPU per post <= {sender.TARGET_CPU_MS} ms",
            f"p50 {now['cpu_ms']['p50']:.3f} ms, p99 {now['cpu_ms']['p99']:.3f} ms (boto3: p50 {before:.3f} ms)",
            now["cpu_ms"]["p50"] <= sender.TARGET_CPU_MS and now["delivered"] and now["gone_is_false"])
    burst = results.get("load_burst")
    if burst:
        label = f"{burst['users']}-user burst"
        add(f"local gateway, {label}: 100 % matched", f"{burst['matched_pct']} %", burst["matched_pct"] == 100)
        add(f"local gateway, {label}: no errors", str(burst["errors"]), burst["errors"] == 0)
        p99 = burst["match_latency_ms"]["p99"]
        add(f"local gateway, {label}: match latency p99 <= 250 ms", f"{p99:.1f} ms", p99 <= 250)
        ledger = burst["ledger"]
        add(f"local gateway, {label}: every relayed message delivered once",
            f"{ledger['delivered_once']}/{ledger['relayed']}", ledger["delivered_once"] == ledger["relayed"])
        add(f"local gateway, {label}: nothing per-user left in Redis",
            "clean" if burst["redis_after"]["clean"] else str(burst["redis_after"]["unexpected"]),
            burst["redis_after"]["clean"])
    steady = results.get("load_steady")
    if steady:
        add(f"local gateway, {steady['users']} users at {steady['plan']['rate']:g}/s: 100 % matched, no errors",
            f"{steady['matched_pct']} %, {steady['errors']} errors, p99 {steady['match_latency_ms']['p99']:.1f} ms",
            steady["matched_pct"] == 100 and steady["errors"] == 0)
    compared = results.get("cost_compare")
    if compared and compared["columns"]:
        limit = compared["target_setup_and_pings"]
        figures = "; ".join(f"{c['label']}: {c['setup']} + {c['pings']} pings = {c['setup_and_pings']}"
                            for c in compared["columns"])
        add(f"register to media flowing: <= {limit} billed messages per match, pings included", figures,
            all(c["setup_and_pings"] <= limit for c in compared["columns"][1:]))
    cold = results.get("cold")
    if cold:
        add("cold import <= 300 ms", f"{cold['import_ms_median']:.1f} ms (median)", cold["import_ms_median"] <= 300)
        peak = cold["rss_mb"]["after_first_post"]
        add("fits in 128 MB with headroom (peak RSS <= 80 %)", f"{peak} MB after the first post",
            peak <= 128 * HEADROOM)
    pkg = results.get("package")
    if pkg and "zip_mb" in pkg:
        add("package <= 10 MB", f"{pkg['zip_mb']} MB zipped ({pkg['unzipped_mb']} MB unzipped)", pkg["zip_mb"] <= 10)
    return rows


def _span(c: dict[str, Any]) -> str:
    return str(c["min"]) if c["min"] == c["max"] else f"{c['min']}-{c['max']}"


def run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    from localdev.redis_server import RedisServer
    from testkit.fake_management_api import FakeManagementApi

    results: dict[str, Any] = {"machine": machine(), "args": {k: (str(v) if isinstance(v, Path) else v)
                                                              for k, v in vars(args).items()}}
    gateway_args = shlex.split(args.gateway_args)
    with RedisServer() as server:
        if "handlers" in args.sections or "cost" in args.sections:
            results["handlers"] = handlers.run(server.url, iterations=args.iterations, progress=progress)
        if "sender" in args.sections:
            results["sender"] = sender.compare(iterations=2 * args.iterations, progress=progress)
        if "load" in args.sections or "cost" in args.sections:
            arrivals = ("burst", "steady") if args.arrival == "both" else (args.arrival,)
            for arrival in arrivals:
                plan = load.Plan(users=args.users, arrival=arrival, rate=args.rate)
                if args.timeout:
                    plan.timeout_s = args.timeout
                else:
                    arriving = args.users / args.rate if arrival == "steady" else 0.0
                    plan.timeout_s = max(120.0, args.users / 15 + arriving)
                profile = args.out.parent / f"gateway-profile-{arrival}.txt" if args.profile else None
                result = load.run(server.url, plan, gateway_args, progress, profile,
                                  redis_pid=server._process.pid if server._process else None)
                if profile is not None and profile.exists():
                    from bench.profile import summarize

                    result["profile"] = {"file": str(profile), **summarize(profile)}
                results[f"load_{arrival}"] = result
        if "cost" in args.sections:
            # The same burst with the other client behaviours, for the cost table's other columns.
            for key, _label, overrides in cost.VARIANTS:
                if key in results:
                    continue
                plan = load.Plan(users=args.users, arrival="burst", **overrides)
                plan.timeout_s = args.timeout or max(120.0, args.users / 15)
                results[key] = load.run(server.url, plan, gateway_args, progress,
                                        redis_pid=server._process.pid if server._process else None)
        if "cold" in args.sections:
            with FakeManagementApi() as api:
                results["cold"] = coldstart.measure_imports(server.url, api.endpoint, args.cold_runs, progress)
            if not args.no_package:
                results["package"] = coldstart.measure_package(args.stage, progress)
    base = results.get("load_burst") or results.get("load_steady")
    if "cost" in args.sections and base and results.get("handlers"):
        assumptions = cost.Assumptions(call_minutes=args.call_minutes)
        memory = cost.configured_memory_mb(args.stage)
        results["cost"] = [cost.model(base, results["handlers"], mb, assumptions)
                           for mb in dict.fromkeys([memory, 128])]
        results["cost_compare"] = cost.compare([
            (label, results[key], cost.model(results[key], results["handlers"], memory, assumptions))
            for key, label, _ in cost.VARIANTS if key in results
        ])
    results["targets"] = targets(results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    m = machine()
    console.print(f"[bold]Benchmarks[/bold] on {m['nproc']} cores ({m['cpu']}), Python {m['python']}, "
                  f"load average {', '.join(map(str, m['loadavg_at_start']))}")
    if m["loadavg_at_start"] and m["loadavg_at_start"][0] > 0.5 * (m["nproc"] or 1):
        console.print("[yellow]The machine is busy: timings will be noisy.[/yellow]")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=args.no_progress) as progress:
        results = run(args, progress)
    for table in report.rich_tables(results):
        console.print(table)
    for key in ("load_burst", "load_steady", "load_legacy", "load_late"):
        r = results.get(key)
        if r and r["error_samples"]:
            console.print(f"[red]{key} errors:[/red]", *r["error_samples"][:10], sep="\n  ")
        if r and "profile" in r:
            console.print(f"gateway profile ({key}): {r['profile']['file']}")
            for name, pct in r["profile"]["buckets"].items():
                console.print(f"  {pct:5.1f} %  {name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    args.out.with_suffix(".md").write_text(report.markdown(results))
    console.print(f"Wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
