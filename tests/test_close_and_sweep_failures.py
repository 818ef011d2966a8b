"""A sweep that cannot run fails visibly instead of passing (a socket that cannot be closed raises
``CloseFailed``: tests/test_management_sender.py)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from chalicelib import entry
from chalicelib.store import Unavailable


def with_metrics(service):
    return dataclasses.replace(service, settings=service.settings.model_copy(update={"metrics_enabled": True}))


def test_a_sweep_that_cannot_run_reports_sweep_failures_and_raises(service, monkeypatch, capsys):
    def down(*args, **kwargs):
        raise Unavailable("Redis unreachable")

    service = with_metrics(service)
    monkeypatch.setattr(service.store, "acquire_sweep_lock", down)
    with pytest.raises(Unavailable):
        entry.on_schedule(service)
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["SweepFailures"] == 1
    assert {"Name": "SweepFailures", "Unit": "Count"} in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]


def test_a_sweep_that_ran_reports_no_failure(service, capsys):
    entry.on_schedule(with_metrics(service))
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["SweepFailures"] == 0
