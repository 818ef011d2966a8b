"""A socket that cannot be closed, and a sweep that cannot run, fail visibly instead of passing."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.stub import Stubber

from chalicelib import entry
from chalicelib.sender import CloseFailed, ManagementApiSender
from chalicelib.store import Unavailable

ENDPOINT = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/api"


def stubbed(code: str, status: int) -> tuple[ManagementApiSender, Stubber]:
    sender = ManagementApiSender("us-east-1")
    stubber = Stubber(sender._client(ENDPOINT))
    stubber.add_client_error("delete_connection", service_error_code=code, http_status_code=status)
    return sender, stubber


def test_a_denied_close_raises_instead_of_passing_for_closed():
    sender, stubber = stubbed("ForbiddenException", 403)  # IAM allows POST but not DELETE
    with stubber, pytest.raises(CloseFailed, match="ForbiddenException"):
        sender.close(ENDPOINT, "UjH9bdFUIAMCJqA=")


def test_closing_a_socket_that_is_already_gone_is_not_an_error():
    sender, stubber = stubbed("GoneException", 410)
    with stubber:
        sender.close(ENDPOINT, "UjH9bdFUIAMCJqA=")


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
