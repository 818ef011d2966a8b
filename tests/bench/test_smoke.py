"""Smoke runs of every benchmark at tiny sizes, so ``make bench`` keeps working.

They assert correctness only (everyone matched, every relayed message delivered exactly once,
nothing left in Redis, counts that the protocol fixes), never timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import coldstart, cost, handlers, load, report
from bench.__main__ import targets
from bench.common import PROJECT_DIR, percentile
from bench.profile import summarize
from localdev.redis_server import RedisServer
from testkit.fake_management_api import FakeManagementApi


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    """A Valkey of its own: the benchmarks flush it."""
    with RedisServer() as redis_server:
        yield redis_server


@pytest.fixture(scope="module")
def handler_results(server: RedisServer) -> dict[str, Any]:
    return handlers.run(server.url, iterations=3, warmup=1)


@pytest.fixture(scope="module")
def burst(server: RedisServer) -> dict[str, Any]:
    # Worker processes, as `make bench` runs the gateway.
    return load.run(server.url, load.Plan(users=12, arrival="burst", timeout_s=60), ["--quiet", "--processes", "2"])


@pytest.fixture(scope="module")
def legacy_burst(server: RedisServer) -> dict[str, Any]:
    """The page before the join fold and the batches: join, then one frame per candidate."""
    plan = load.Plan(users=12, arrival="burst", timeout_s=60, client="legacy")
    return load.run(server.url, plan, ["--quiet", "--processes", "2"])


def test_handler_benchmark_counts_what_the_protocol_posts(handler_results: dict[str, Any]) -> None:
    actions = handler_results["actions"]
    posted = {name: row["messages"] for name, row in actions.items()}
    # The posts the protocol fixes (docs/protocol.md, "Connection flow"): a match tells both strangers,
    # a relay tells the peer, $connect tells no one.
    expected = {"$connect": 0, "register (queued)": 1, "register (matched)": 2, "signal (offer)": 1,
                "signal (candidate)": 1, "chat": 1}
    assert {k: (posted[k]["min"], posted[k]["max"]) for k in expected} == {k: (n, n) for k, n in expected.items()}
    for name, row in actions.items():
        assert row["latency_ms"]["n"] == 3, name
        assert row["round_trips"]["min"] >= 1, name  # every action reaches Redis, measured by the server
        assert row["commands"]["min"] >= row["round_trips"]["min"], name
    assert handler_results["post_to_connection"]["cpu_ms"]["n"] >= 1


def test_burst_everyone_matched_and_every_message_delivered_once(burst: dict[str, Any]) -> None:
    assert burst["errors"] == 0, burst["error_samples"]
    assert burst["matched_users"] == burst["users"] == 12
    ledger = burst["ledger"]
    assert ledger["relayed"] > 0
    assert ledger["delivered_once"] == ledger["relayed"]
    assert ledger["lost"] == ledger["duplicated"] == ledger["misdelivered"] == 0
    assert burst["received_by_event"]["matched"] == 2 * burst["matches"]
    # The page's client: no join, and its candidates ride on its offer or answer.
    assert "join" not in burst["sent_by_action"] and "verified" not in burst["received_by_event"]
    assert burst["sent_by_action"]["signal"] == burst["received_by_event"]["signal"] == 2 * burst["matches"]
    assert burst["redis_after"]["clean"], burst["redis_after"]
    for key in burst["redis_after"]["keys"]:  # nothing that names a connection, but for seconds
        if key.startswith("{rvc:r:"):  # a room's slot: its closed view, and the frames relayed (by call id)
            assert key.endswith("}:view") or "}:m:" in key, key
            continue
        assert key.removeprefix("{rvc}:").split(":")[0] in {"msgs", "meta", "matchstats", "statscache", "iprate", "recent", "call", "viewseq"}, key
        assert not key.startswith("{rvc}:call:") or burst["redis_after"]["ttl_s"][key] <= 5, key


def test_the_legacy_client_joins_and_sends_one_frame_per_candidate(legacy_burst: dict[str, Any]) -> None:
    assert legacy_burst["errors"] == 0, legacy_burst["error_samples"]
    assert legacy_burst["ledger"]["delivered_once"] == legacy_burst["ledger"]["relayed"]
    matches = legacy_burst["matches"]
    assert legacy_burst["sent_by_action"]["join"] == legacy_burst["received_by_event"]["verified"] == 2 * matches
    assert legacy_burst["sent_by_action"]["signal"] == 2 * matches * (1 + load.Plan().candidates)


def test_late_candidates_go_in_one_batch_per_side(server: RedisServer) -> None:
    result = load.run(server.url, load.Plan(users=6, arrival="burst", timeout_s=60, late_candidates=2), ["--quiet"])
    assert result["errors"] == 0, result["error_samples"]
    assert result["ledger"]["delivered_once"] == result["ledger"]["relayed"]
    assert result["sent_by_action"]["signal"] == 2 * result["matches"] * 2  # the description, one batch


def test_steady_arrivals_in_threads_mode(server: RedisServer) -> None:
    result = load.run(server.url, load.Plan(users=7, arrival="steady", rate=50, timeout_s=60), ["--quiet"])
    assert result["errors"] == 0, result["error_samples"]
    assert result["matched_users"] == 7  # an odd user out is partnered by a helper at the end
    assert result["ledger"]["delivered_once"] == result["ledger"]["relayed"]
    assert result["redis_after"]["clean"], result["redis_after"]


def test_lone_newcomer_gets_a_helper_and_a_lone_skipper_leaves(server: RedisServer) -> None:
    """One user: it waits alone, so a helper partners it; it then presses Next (skip_fraction 1)
    and is alone again, having been matched, so it leaves the queue. Both paths must end."""
    result = load.run(server.url, load.Plan(users=1, arrival="burst", skip_fraction=1.0, timeout_s=60), ["--quiet"])
    assert result["errors"] == 0, result["error_samples"]
    assert result["matched_users"] == 1
    assert result["helpers"] == 1
    assert result["skips"] == 1
    assert result["leftover_waiters"] == 1
    assert result["received_by_event"]["left"] == 1
    assert result["redis_after"]["clean"], result["redis_after"]


def test_cold_start_measures_import_and_first_events(server: RedisServer) -> None:
    with FakeManagementApi() as api:
        cold = coldstart.measure_imports(server.url, api.endpoint, runs=1)
        assert any(api.frames.values())  # the first register really posted `queued`
    assert cold["connect_status"] == {"statusCode": 200}
    assert cold["import_ms_median"] > 0
    rss = cold["rss_mb"]
    assert rss["interpreter"] <= rss["after_import"] <= rss["after_first_post"]
    assert any(name == "chalicelib" for name, _ in cold["top_imports_ms"]) or cold["top_imports_ms"]


def test_package_project_swaps_policy_files_for_autogen(tmp_path: Path) -> None:
    coldstart.package_project(tmp_path)
    config = (tmp_path / ".chalice" / "config.json").read_text()
    assert "iam_policy_file" not in config
    assert (tmp_path / "app.py").exists() and (tmp_path / "chalicelib" / "entry.py").exists()


def test_cost_model_and_report(handler_results: dict[str, Any], burst: dict[str, Any]) -> None:
    modelled = cost.model(burst, handler_results, 256)
    usd = modelled["usd_per_million_matches"]
    parts = sum(v for k, v in usd.items() if k != "total")
    assert usd["total"] == pytest.approx(parts, abs=0.05)
    assert modelled["per_match"]["billed_messages"] > modelled["per_match"]["server_messages"] > 0
    results = {"handlers": handler_results, "load_burst": burst, "cost": [modelled]}
    results["targets"] = targets(results)
    assert {t["met"] for t in results["targets"]} <= {True, False}
    text = report.markdown(results)
    assert "Handler micro-benchmarks" in text and "Targets" in text
    assert len(report.rich_tables(results)) == len(report.tables(results))


def test_cost_comparison_puts_the_clients_side_by_side(
    handler_results: dict[str, Any], burst: dict[str, Any], legacy_burst: dict[str, Any]
) -> None:
    runs = [("before", legacy_burst), ("after", burst)]
    compared = cost.compare([(label, run, cost.model(run, handler_results, 256)) for label, run in runs])
    before, after = compared["columns"]

    def signalling(column: dict[str, Any]) -> float:  # join, verified and signals, both ways, per match
        frames = column["sent"].get("join", 0) + column["sent"]["signal"]
        return (frames + column["received"].get("verified", 0) + column["received"]["signal"]) / column["matches"]

    # join and verified both ways, and the 4 candidates of each side both ways, are gone: what
    # is left is the offer and the answer, each in and out.
    assert (signalling(before), signalling(after)) == (4 + 2 * 2 * (1 + 4), 4)
    assert after["pings"] == before["pings"]
    assert after["billed"] < before["billed"] and after["usd_total"] < before["usd_total"]
    results = {"handlers": handler_results, "load_burst": burst, "cost_compare": compared}
    [row] = [t for t in targets(results) if t["target"].startswith("register to media")]
    assert row["met"] == (after["setup_and_pings"] <= cost.TARGET_SETUP_AND_PINGS)
    assert "before and after" in report.markdown(results)


def test_profile_summary(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text("main (x.py:1);post (botocore/client.py:2) 3\nmain (x.py:1);run (asyncio/events.py:3) 1\n")
    result = summarize(raw)
    assert result["samples"] == 4
    assert result["buckets"]["boto3/botocore: post_to_connection client side"] == 75.0


def test_percentile_nearest_rank() -> None:
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile(list(range(1, 101)), 99) == 99


def test_command_line_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "handlers", "--iterations", "2", "--no-progress", "--out", str(out)],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["handlers"]["actions"]["chat"]["messages"]["max"] == 1
    assert out.with_suffix(".md").read_text().startswith("Machine:")


def test_sender_benchmark_measures_both_senders_and_both_keep_the_contract() -> None:
    from bench import sender

    result = sender.compare(iterations=5, warmup=1)
    assert set(result["senders"]) == {sender.OLD, sender.NEW}
    for name, row in result["senders"].items():
        assert row["delivered"] and row["gone_is_false"], name
        assert row["cpu_ms"]["n"] == 5, name
    [row] = [t for t in targets({"sender": result}) if "sender" in t["target"]]
    assert row["met"] is not None


def test_server_time_measures_this_design_at_a_tiny_size(server: RedisServer) -> None:
    from bench import server_time

    figures = server_time.worker(server.url, connections=8, waiters=40, matches=5, iterations=3)
    assert set(figures["population"]) == {"$connect", "ping", "register (matched)", "signal (candidate)", "chat",
                                          "$disconnect (in room)"}
    assert all(us > 0 for us in figures["population"].values())
    assert figures["behind"]["matched"] is True  # a shared interest is found behind 40 waiters
    assert figures["sweep"]["calls"] == 1 and figures["sweep_due"]["calls"] == 1  # one pass: one script call
    assert figures["stats"]["calls"] == 1


def test_server_time_splits_a_relay_into_parts_that_add_up(server: RedisServer) -> None:
    from bench import server_time

    parts = server_time.split(server.url, calls=50)
    assert parts[-1][0].startswith("the whole relay script") and len(parts) == 6
    assert all(us > 0 for _, us in parts)


def test_server_time_prices_reading_the_policy_each_way(server: RedisServer) -> None:
    from bench import server_time

    costs = server_time.policy_cost(server.url, calls=20, rounds=1)
    assert [label.split(" (")[0] for label, _ in costs][:2] == ["the policy decoded from JSON, sent with the call",
                                                                "the policy compiled into the script's text"]
    assert all(us > 0 for _, us in costs)


def test_cluster_spread_puts_relays_on_every_primary_and_counts_each_relay() -> None:
    from bench import cluster_spread
    from localdev.redis_cluster import LocalCluster

    with LocalCluster() as cluster:
        # 40 random room codes all missing one of two primaries: (2/3)^40, about one run in 10^7.
        figures = cluster_spread.worker(cluster.url, [node.url for node in cluster.nodes], rooms=40)
    relays = figures["relays"]
    assert len(relays["shares"]) == 3 and sum(relays["shares"]) == pytest.approx(100, abs=0.5)
    assert all(calls > 0 for calls in relays["calls"])  # the rooms' relays reach every primary
    assert relays["us_per_relay"] > 0 and figures["lifecycle"]["us_per_relay"] > 0
