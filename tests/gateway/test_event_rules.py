"""Pure rules of the gateway: route selection, ids, timestamps and schedule expressions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from localdev.events import body_action, new_connection_id, request_time, select_route
from localdev.schedules import parse

ROUTES = frozenset({"$connect", "$disconnect", "$default", "sendmessage"})


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "sendmessage", "text": "hi"}', "sendmessage"),
        ('{"action": "register"}', "$default"),
        ('{"action": "$connect"}', "$default"),
        ('{"action": "$disconnect"}', "$default"),
        ('{"action": 3}', "$default"),
        ('["sendmessage"]', "$default"),
        ("sendmessage", "$default"),
        ("", "$default"),
    ],
)
def test_route_is_the_body_action_when_a_route_has_that_key_else_default(body: str, route: str) -> None:
    assert select_route(body, ROUTES) == route


# About 1,000 levels in 2-6 KB: deeper than Python's json module can parse (it raises RecursionError).
DEEPLY_NESTED = {
    "object": '{"a":' * 1000 + "1" + "}" * 1000,
    "array": "[" * 1000 + "]" * 1000,
    "action_beside_it": '{"action": "sendmessage", "x": ' + "[" * 1000 + "]" * 1000 + "}",
    "unclosed": "[" * 100_000,
}


@pytest.mark.parametrize("body", DEEPLY_NESTED.values(), ids=DEEPLY_NESTED.keys())
def test_a_frame_too_deep_to_parse_goes_to_default_instead_of_raising(body: str) -> None:
    assert body_action(body) is None
    assert select_route(body, ROUTES) == "$default"
    assert select_route(body, frozenset({"sendmessage"})) is None  # no $default: Forbidden, still no raise


def test_without_a_default_route_an_unmatched_message_has_no_route() -> None:
    assert select_route('{"action": "other"}', frozenset({"$connect", "sendmessage"})) is None
    assert select_route('{"action": "sendmessage"}', frozenset({"sendmessage"})) == "sendmessage"


def test_connection_ids_look_like_api_gateways_and_never_repeat() -> None:
    ids = {new_connection_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{15}=", i) for i in ids)


def test_request_time_uses_api_gateways_format() -> None:
    assert request_time(1707502303419) == "09/Feb/2024:18:11:43 +0000"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(1 minute)", "2024-02-09T18:11:43", "2024-02-09T18:12:43"),
        ("rate(5 minutes)", "2024-02-09T18:11:43", "2024-02-09T18:16:43"),
        ("rate(2 hours)", "2024-02-09T18:11:43", "2024-02-09T20:11:43"),
        ("rate(1 day)", "2024-02-09T18:11:43", "2024-02-10T18:11:43"),
        ("cron(0/15 * * * ? *)", "2024-02-09T18:11:43", "2024-02-09T18:15:00"),
        ("cron(0 12 * * ? *)", "2024-02-09T18:11:43", "2024-02-10T12:00:00"),
        ("cron(30 9 ? * MON-FRI *)", "2024-02-09T18:11:43", "2024-02-12T09:30:00"),  # Friday -> Monday
        ("cron(0 0 1 JAN,JUL ? *)", "2024-02-09T18:11:43", "2024-07-01T00:00:00"),
        ("cron(0 8 ? * 1 *)", "2024-02-09T18:11:43", "2024-02-11T08:00:00"),  # 1 is Sunday
    ],
)
def test_schedule_expressions_fire_when_eventbridge_would(expression: str, after: str, expected: str) -> None:
    assert parse(expression)(at(after)) == at(expected)


def test_schedule_interval_overrides_the_expression() -> None:
    assert parse("cron(0 12 * * ? *)", interval_s=2.5)(100.0) == 102.5


@pytest.mark.parametrize("expression", ["rate(1 second)", "cron(0 12 L * ? *)", "cron(* * * *)", "every minute"])
def test_unsupported_schedule_expressions_are_refused_with_a_reason(expression: str) -> None:
    with pytest.raises(ValueError):
        parse(expression)
