"""Run the app's ``@app.schedule`` functions like EventBridge: on their rate() or cron().

EventBridge fires on time whether or not the previous run finished, so runs may overlap here
too. A rate(N unit) rule first fires N units after it is created, and so does this one.
``--schedule-interval`` replaces every expression with a short period, for development.
Cron supports the fields EventBridge documents, minus L, W and # (an error names them).
"""

from __future__ import annotations

import asyncio
import calendar
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from localdev.app_loader import Schedule
from localdev.eventlog import event_line
from localdev.events import scheduled_event

if TYPE_CHECKING:
    from localdev.server import Gateway

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}  # EventBridge: 1 = Sunday

NextRun = Callable[[float], float]


def _field(spec: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values one cron field allows: *, ?, n, a-b, a,b, */s, a/s, a-b/s, and names."""
    values: set[int] = set()
    for part in spec.upper().split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ValueError(f"cron field {spec!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise ValueError(f"unsupported cron value {text!r} (L, W and # are not supported locally)")
    return int(text)


def _cron(fields: list[str]) -> NextRun:
    if len(fields) != 6:
        raise ValueError("cron() needs 6 fields: minutes hours day-of-month month day-of-week year")
    minutes, hours = _field(fields[0], 0, 59), _field(fields[1], 0, 23)
    days, months = _field(fields[2], 1, 31), _field(fields[3], 1, 12, _MONTHS)
    weekdays, years = _field(fields[4], 1, 7, _DAYS), _field(fields[5], 1970, 2199)
    any_day, any_weekday = fields[2] in ("*", "?"), fields[4] in ("*", "?")

    def day_matches(d: datetime) -> bool:
        weekday = (d.weekday() + 1) % 7 + 1  # Monday=0 -> 2, Sunday=6 -> 1
        if d.month not in months or d.year not in years:
            return False
        if any_day:
            return weekday in weekdays
        return d.day in days and (any_weekday or weekday in weekdays)

    def next_run(after: float) -> float:
        start = datetime.fromtimestamp(after, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 5):
            if day_matches(day):
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate.timestamp()
            day += timedelta(days=1)
        raise ValueError(f"cron({' '.join(fields)}) never fires in the next five years")

    return next_run


def parse(expression: str, interval_s: float | None = None) -> NextRun:
    """A function from "now" to the next firing time, for rate(...) or cron(...)."""
    if interval_s is not None:
        period = float(interval_s)
        return lambda after: after + period
    rate = _RATE.match(expression.strip())
    if rate:
        period = int(rate.group(1)) * _UNIT_S[rate.group(2).rstrip("s")]
        return lambda after: after + period
    cron = _CRON.match(expression.strip())
    if cron:
        return _cron(cron.group(1).split())
    raise ValueError(f"Unsupported schedule expression {expression!r}")


async def run_schedule(gw: Gateway, schedule: Schedule) -> None:
    """Fire one schedule forever; cancelled on reload and shutdown."""
    next_run = parse(schedule.expression, gw.settings.schedule_interval_s)
    due = next_run(time.time())
    while True:
        await asyncio.sleep(max(0.0, due - time.time()))
        gw.spawn(_fire(gw, schedule))
        due = next_run(max(due, time.time() - 1))


async def _fire(gw: Gateway, schedule: Schedule) -> None:
    event = scheduled_event(schedule.function.region, schedule.rule_name)
    outcome = await gw.invoker.invoke(schedule.function, event, lane=schedule.rule_name)
    name = schedule.function.handler_string.rpartition(".")[2]
    event_line("schedule", name, None, outcome.status, outcome.latency_ms, schedule.expression)
