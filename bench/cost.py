"""Cost model: API Gateway + Lambda cost per million matches at list prices.

Measured inputs (from the load and handler benchmarks): client messages, server messages,
Lambda invocations and connections per match, the handlers' in-process time and the CPU time of
one ``post_to_connection`` by the app's sender. Assumed inputs (flags, printed with the result): how long a
call lasts, the network latency of Redis and of the Management API inside AWS.

Lambda duration per invocation is modelled as

    (handler CPU + posts x post CPU) x CPU slowdown + round trips x Redis RTT + posts x post latency

where the CPU slowdown is 1769 MB / memory size (Lambda gives a full vCPU at 1769 MB and a
proportional share below), and each invocation is billed rounded up to the next millisecond.

``compare`` puts the model of several load runs side by side, one per client behaviour (the
page before the join fold and the candidate batches, and after), with the billed messages per
match split into what it takes from register to media flowing, the conversation and its end,
and the keep-alive pings.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from bench.common import PROJECT_DIR

# List prices, us-east-1.
APIGW_PER_MILLION_MESSAGES = 1.00
APIGW_PER_MILLION_CONNECTION_MINUTES = 0.25
LAMBDA_PER_MILLION_REQUESTS = 0.20
LAMBDA_PER_GB_SECOND = 0.0000166667
FULL_VCPU_MB = 1769


@dataclass
class Assumptions:
    call_minutes: float = 5.0  # how long both strangers stay connected per match
    redis_rtt_ms: float = 0.5  # Lambda -> ElastiCache in the same region
    post_latency_ms: float = 8.0  # Lambda -> execute-api Management API, warm HTTPS connection
    ping_interval_s: float = 300.0  # the web client's keep-alive (max(30, IDLE_TIMEOUT_SECONDS / 2))


def configured_memory_mb(stage: str = "dev", function: str = "websocket_message") -> int:
    """The function's memory as ``.chalice/config.json`` resolves it: function, stage, top level."""
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    stage_cfg = config.get("stages", {}).get(stage, {})
    for layer in (stage_cfg.get("lambda_functions", {}).get(function, {}), stage_cfg, config):
        if "lambda_memory_size" in layer:
            return int(layer["lambda_memory_size"])
    return 128  # Chalice's default


def model(load: dict[str, Any], handlers: dict[str, Any], memory_mb: int,
          assumptions: Assumptions | None = None) -> dict[str, Any]:
    a = assumptions or Assumptions()
    per_match = load["per_match"]
    sent = load["sent_by_action"]
    inbound = sum(sent.values())
    actions = handlers["actions"]

    # Handler CPU per invocation: each action's in-process p50, weighted by how often the load
    # run sent it; $connect and $disconnect once per connection.
    def p50(name: str) -> float:
        return float(actions[name]["latency_ms"]["p50"])

    weights = {
        "register (matched)": sent.get("register", 0) / 2, "register (queued)": sent.get("register", 0) / 2,
        "join": sent.get("join", 0), "signal (candidate)": sent.get("signal", 0), "chat": sent.get("chat", 0),
        "next (rematched)": sent.get("next", 0) / 2, "next (queued)": sent.get("next", 0) / 2,
        "leave": sent.get("leave", 0),
    }
    connections = load["invocations"] - inbound
    handler_ms = sum(p50(k) * w for k, w in weights.items()) + p50("$connect") * connections / 2 + p50(
        "$disconnect (in room)") * connections / 2
    invocations = load["invocations"]
    handler_ms /= invocations
    posts_per_invocation = load["server_messages"] / invocations
    post_cpu = float(handlers["post_to_connection"]["cpu_ms"]["p50"])
    slowdown = max(1.0, FULL_VCPU_MB / memory_mb)
    duration_ms = ((handler_ms + posts_per_invocation * post_cpu) * slowdown + a.redis_rtt_ms
                   + posts_per_invocation * a.post_latency_ms)
    billed_ms = math.ceil(duration_ms)

    pings = 2 * a.call_minutes * 60 / a.ping_interval_s  # both users; each ping is answered by a pong
    messages = per_match["client_messages"] + per_match["server_messages"] + 2 * pings
    lambda_requests = per_match["invocations"] + pings
    connection_minutes = 2 * a.call_minutes
    gb_seconds = lambda_requests * billed_ms / 1000 * memory_mb / 1024

    million = 1_000_000
    apigw_messages = messages * APIGW_PER_MILLION_MESSAGES
    apigw_minutes = connection_minutes * APIGW_PER_MILLION_CONNECTION_MINUTES
    lam_requests = lambda_requests * LAMBDA_PER_MILLION_REQUESTS
    lam_compute = gb_seconds * million * LAMBDA_PER_GB_SECOND
    total = apigw_messages + apigw_minutes + lam_requests + lam_compute
    return {
        "memory_mb": memory_mb,
        "assumptions": asdict(a),
        "prices": {"apigw_per_million_messages": APIGW_PER_MILLION_MESSAGES,
                   "apigw_per_million_connection_minutes": APIGW_PER_MILLION_CONNECTION_MINUTES,
                   "lambda_per_million_requests": LAMBDA_PER_MILLION_REQUESTS,
                   "lambda_per_gb_second": LAMBDA_PER_GB_SECOND},
        "per_match": {
            "client_messages": per_match["client_messages"], "server_messages": per_match["server_messages"],
            "setup_messages": round(per_match["setup_client_messages"] + per_match["setup_server_messages"], 2),
            "ping_messages": round(2 * pings, 2), "billed_messages": round(messages, 2),
            "lambda_invocations": round(lambda_requests, 2), "connection_minutes": connection_minutes,
            "handler_cpu_ms": round(handler_ms, 3), "posts_per_invocation": round(posts_per_invocation, 3),
            "post_cpu_ms": post_cpu, "cpu_slowdown": round(slowdown, 2),
            "lambda_duration_ms": round(duration_ms, 2), "lambda_billed_ms": billed_ms,
            "gb_seconds": round(gb_seconds, 5),
        },
        "usd_per_million_matches": {
            "api_gateway_messages": round(apigw_messages, 2), "api_gateway_connection_minutes": round(apigw_minutes, 2),
            "lambda_requests": round(lam_requests, 2), "lambda_compute": round(lam_compute, 2),
            "total": round(total, 2),
        },
    }


# The variants the cost bench runs, as (key in the results, label, load.Plan overrides).
VARIANTS = (
    ("load_legacy", "before: join, one frame per candidate", {"client": "legacy"}),
    ("load_burst", "after: no join, candidates in the offer/answer", {}),
    ("load_late", "after: no join, 2 of 4 candidates late (one batch each side)", {"late_candidates": 2}),
)
TARGET_SETUP_AND_PINGS = 12  # billed messages per match from register to media flowing, pings included


def compare(models: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Rows of billed messages and dollars per match, one column per (label, load run, model)."""
    columns = []
    for label, run, m in models:
        per, usd = m["per_match"], m["usd_per_million_matches"]
        setup_in, setup_out = run["per_match"]["setup_client_messages"], run["per_match"]["setup_server_messages"]
        columns.append({
            "label": label,
            "setup_in": setup_in, "setup_out": setup_out, "setup": per["setup_messages"],
            "rest": round(per["client_messages"] + per["server_messages"] - per["setup_messages"], 2),
            "pings": per["ping_messages"], "billed": per["billed_messages"],
            "setup_and_pings": round(per["setup_messages"] + per["ping_messages"], 2),
            "invocations": per["lambda_invocations"], "usd_total": usd["total"],
            "usd_messages": usd["api_gateway_messages"],
            "sent": run["sent_by_action"], "received": run["received_by_event"], "matches": run["matches"],
        })
    return {"memory_mb": models[0][2]["memory_mb"] if models else None, "columns": columns,
            "target_setup_and_pings": TARGET_SETUP_AND_PINGS}
