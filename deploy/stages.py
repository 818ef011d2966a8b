"""What the deploy needs to know about the app and its stages, in one place.

The function names are Chalice's (``lambda_functions`` keys in ``.chalice/config.json``); the
logical ids are what ``chalice package`` calls them. tests/deploy checks both lists against a real
``chalice package`` run, so a new route or handler cannot be forgotten here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / ".chalice" / "config.json"
INFRA_TEMPLATE = ROOT / "infra" / "stack.yaml"
RELAY_TEMPLATE = ROOT / "infra" / "relay.yaml"  # the optional TURN relay, a stack of its own

# Chalice function name -> CloudFormation logical id in the packaged template.
FUNCTIONS: dict[str, str] = {
    "api_handler": "APIHandler",
    "websocket_connect": "WebsocketConnect",
    "websocket_message": "WebsocketMessage",
    "websocket_disconnect": "WebsocketDisconnect",
    "sweep": "Sweep",
}

# The functions that post to connections (Management API POST). $connect never does (a
# connection cannot receive before its handshake completes) and the REST handler only reads Redis.
SENDERS = frozenset({"websocket_message", "websocket_disconnect", "sweep"})

# The functions that close sockets (Management API DELETE): the message handler, when a report
# bans an address (every socket of it) or a connection exhausts its abuse budget.
# tests/deploy/test_iam_grants.py runs those paths and records which function calls what.
CLOSERS = frozenset({"websocket_message"})

# The functions that make TURN credentials, for ``matched`` and ``resumed``: the message handler
# (register, next, resume) and the sweep, which pairs waiters too.
TURN_READERS = frozenset({"websocket_message", "sweep"})

# The functions that read the HMAC key of the device identities (IDENTITY_SECRET_ARN): only
# $connect issues and verifies identities (chalicelib/identity.py, ``for_connection``).
IDENTITY_READERS = frozenset({"websocket_connect"})


# The Lambda runtime of every function, on both deploy paths. Chalice picks the runtime from the
# Python that runs it and downloads wheels for that Python (pydantic-core is compiled), so the
# deploy refuses to run under another Python rather than ship wheels the runtime cannot import.
# python3.11 is the project's Python (pyproject.toml); Lambda deprecates it on 2027-06-30.
LAMBDA_RUNTIME = "python3.11"


def lambda_name(app_name: str, stage_name: str, function: str) -> str:
    """The deployed Lambda name, as ``chalice deploy`` builds it; the one-template path sets the
    same ``FunctionName``s, so log groups, IAM log grants and alarms agree on both paths.

    Chalice names the REST handler ``<app>-<stage>`` with no suffix (a back-compat rule in
    ``chalice/deploy/appgraph.py``) and every other function ``<app>-<stage>-<function>``.
    """
    if function == "api_handler":
        return f"{app_name}-{stage_name}"
    return f"{app_name}-{stage_name}-{function}"


def runtime_of(version: tuple[int, ...]) -> str:
    """The Lambda runtime Chalice would choose under the Python ``version``."""
    return f"python{version[0]}.{version[1]}"


@dataclass(frozen=True)
class Stage:
    """How a Chalice stage is deployed.

    ``in_vpc`` stages get their own infra stack (``infra/stack.yaml``): VPC, NAT, cache, AUTH
    secret and identity secret, and their Lambdas run in its private subnets. Other stages run outside any VPC
    against a Redis URL given at deploy time.
    """

    name: str
    in_vpc: bool

    def infra_stack_name(self, app_name: str) -> str:
        return f"{app_name}-{self.name}-infra"

    def relay_stack_name(self, app_name: str) -> str:
        return f"{app_name}-{self.name}-relay"

    def app_stack_name(self, app_name: str) -> str:
        """Stack name suggested for the one-template CloudFormation path."""
        return f"{app_name}-{self.name}"


STAGES: dict[str, Stage] = {
    "dev": Stage("dev", in_vpc=False),
    "prod": Stage("prod", in_vpc=True),
}


def stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise SystemExit(f"unknown stage {name!r}; known stages: {', '.join(STAGES)} (see deploy/stages.py)") from None


def load_config(path: Path = CONFIG_FILE) -> dict:
    """The committed ``.chalice/config.json``."""
    return json.loads(path.read_text())


def api_stage(config: dict, stage_name: str) -> str:
    """The API Gateway stage name (``api_gateway_stage``), the last path segment of both APIs."""
    stage_config = config.get("stages", {}).get(stage_name, {})
    return stage_config.get("api_gateway_stage") or config.get("api_gateway_stage") or "api"
