"""GET /stats against a known state, and the EMF metric lines handlers print."""

from __future__ import annotations

import json

from chalicelib import entry
from testkit.events import message_event


def test_stats_report_waiting_chatting_matches_and_median_wait(policy_harness, clock):
    h = policy_harness
    lonely = h.connect()
    h.send(lonely, {"action": "register", "interests": ["knitting"]})
    for wait in (1, 3, 8):
        a, b = h.connect(), h.connect()
        h.send(a, {"action": "register"})
        clock.advance(wait)
        h.send(b, {"action": "register"})
    idle = h.connect()
    body, status = entry.stats(h.service)
    assert status == 200
    assert body == {
        "online": 8, "waiting": 1, "chatting": 6, "chats_in_progress": 3,
        "matches_last_minute": 3, "median_wait_ms": 3000,
    }
    clock.advance(61)
    body, _ = entry.stats(h.service)
    assert body["matches_last_minute"] == 0 and body["median_wait_ms"] is None
    assert idle


def test_handlers_print_embedded_metric_format_lines(policy_settings, redis_client, clock, capsys):
    from chalicelib.service import build
    from testkit.harness import Harness, RecordingSender

    sender = RecordingSender()
    config = policy_settings.model_copy(update={"metrics_enabled": True})
    h = Harness(build(config, sender=sender, clock=clock), sender.received, clock)
    a, b = h.connect(), h.connect()
    h.send(a, {"action": "register"})
    clock.advance(2)
    h.send(b, {"action": "register"})
    entry.on_message(message_event(b, {"action": "teleport"}), h.service)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    match = next(doc for doc in lines if "Matches" in doc)
    assert match["Matches"] == 1 and match["WaitTimeAtMatch"] == 2000 and "QueueLength" in match
    directive = match["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "RandomChat" and directive["Dimensions"] == [["Service"]]
    assert {m["Name"] for m in directive["Metrics"]} >= {"Matches", "WaitTimeAtMatch", "QueueLength"}
    error = next(doc for doc in lines if "Errors" in doc)
    assert error["Errors"] == 1 and error["Errors.unknown_action"] == 1
