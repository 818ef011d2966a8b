"""Each Lambda function's timeout and memory, resolved from .chalice/config.json as Chalice resolves them.

Chalice scopes its config to one function before reading ``lambda_timeout`` and
``lambda_memory_size``, so a per-function value wins over the stage's, which wins over the top
level, which wins over Chalice's defaults (60 s, 128 MB). The gateway gives each invocation a
context with those limits and warns only when a run exceeds its own function's timeout.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice.config import Config

from localdev.app_loader import function_limits
from tests.gateway.clients import connect, recv_json, send, wait_for, whoami
from tests.gateway.gateway_process import PROJECT_DIR, GatewayProcess

LAYERED = {
    "version": "2.0",
    "app_name": "layers",
    "lambda_timeout": 30,
    "lambda_memory_size": 192,
    "lambda_functions": {"top_only": {"lambda_timeout": 40}},
    "stages": {
        "dev": {
            "lambda_timeout": 20,
            "lambda_functions": {
                "websocket_message": {"lambda_timeout": 7, "lambda_memory_size": 320},
                "sweep": {"lambda_timeout": 60},
            },
        },
        "bare": {},
    },
}


@pytest.mark.parametrize(
    ("stage", "function", "limits"),
    [
        ("dev", "websocket_message", (7, 320)),  # the stage's per-function values
        ("dev", "sweep", (60, 192)),  # per-function timeout, memory from the top level
        ("dev", "websocket_connect", (20, 192)),  # the stage's timeout, the top level's memory
        ("dev", "top_only", (20, 192)),  # the stage beats the top-level lambda_functions entry
        ("bare", "top_only", (40, 192)),  # the top-level lambda_functions entry beats the top level
        ("bare", "websocket_message", (30, 192)),  # another stage's per-function values do not leak
    ],
)
def test_per_function_values_beat_the_stage_which_beats_the_top_level(
    stage: str, function: str, limits: tuple[int, int]
) -> None:
    assert function_limits(Config(chalice_stage=stage, config_from_disk=LAYERED), function) == limits


def test_without_any_value_the_function_gets_chalices_defaults() -> None:
    assert function_limits(Config(chalice_stage="dev", config_from_disk={"version": "2.0"}), "sweep") == (60, 128)


@pytest.mark.parametrize(
    ("stage", "function", "limits"),
    [
        ("dev", "sweep", (60, 256)),  # it runs ~50 s on purpose; the stage's 10 s must not apply
        ("dev", "websocket_connect", (5, 256)),
        ("dev", "websocket_message", (10, 256)),
        ("prod", "sweep", (60, 256)),
        ("prod", "websocket_message", (10, 512)),
        ("prod", "api_handler", (10, 256)),
    ],
)
def test_the_projects_functions_get_their_own_limits_so_the_sweep_has_60_s(
    stage: str, function: str, limits: tuple[int, int]
) -> None:
    disk = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
    assert function_limits(Config(chalice_stage=stage, config_from_disk=disk), function) == limits


def limits_seen(store: Any, function: str) -> dict[str, int] | None:
    raw = store.hget("lambda_limits", f"echo-dev-{function}")
    return json.loads(raw) if raw else None


def test_each_function_runs_with_its_own_timeout_and_memory(echo_gateway: GatewayProcess, store: Any) -> None:
    # tests/gateway/echo_app/.chalice/config.json: top level 30 s / 192 MB, stage dev 1 s,
    # websocket_message 3 s / 320 MB, sweep 256 MB.
    with connect(echo_gateway.ws_url) as ws:
        whoami(ws)
    expected = {
        "websocket_connect": (192, 1000),
        "websocket_message": (320, 3000),
        "websocket_disconnect": (192, 1000),
        "sweep": (256, 1000),
    }
    for function, (memory_mb, timeout_ms) in expected.items():
        seen = wait_for(lambda f=function: limits_seen(store, f), what=f"{function}'s context")
        assert seen["memory_mb"] == memory_mb
        assert timeout_ms - 1000 < seen["remaining_ms"] <= timeout_ms


def test_a_run_is_reported_as_killed_only_past_its_own_functions_timeout(
    echo_gateway: GatewayProcess, store: Any
) -> None:
    # 1.3 s: over the stage's 1 s, so $connect is flagged; under websocket_message's own 3 s.
    with connect(echo_gateway.ws_url + "?sleep=1.3") as ws:
        me = whoami(ws)
        send(ws, {"action": "slow", "seconds": 1.3})
        assert recv_json(ws)["echo"] == {"action": "slow", "seconds": 1.3}
    # The warning, if any, is logged just before the event's own line.
    wait_for(lambda: re.search(rf"{re.escape(me)}\s+\$default\s+slow\s", echo_gateway.output()), what="slow's line")
    output = echo_gateway.output()
    assert re.search(r"echo-dev-websocket_connect ran \d+ ms, over its 1 s timeout: Lambda would have killed it", output)
    assert "echo-dev-websocket_message ran" not in output

