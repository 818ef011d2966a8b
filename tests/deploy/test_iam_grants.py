"""IAM grants proven against the code: every AWS call each function makes is allowed, and a
sample of what it must not do is denied, on every stage and on both deploy paths.

The calls come from the code (``aws_calls.scan`` and ``aws_calls.trace``), the resource ARNs
from IAM's own formats, the decisions from an IAM policy evaluator (``grants``). The policies
are the ones each path would really create: Chalice's application graph of the generated
``chalice deploy`` project, and the packaged CloudFormation template under given parameters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib import entry, sweep
from chalicelib.config import load_settings
from chalicelib.identity import Identities
from chalicelib.service import build
from deploy import infra, policies, workspace
from deploy.stages import (
    CLOSERS,
    FUNCTIONS,
    IDENTITY_READERS,
    SENDERS,
    STAGES,
    TURN_READERS,
    api_stage,
    lambda_name,
    load_config,
)
from deploy.workspace import StageValues
from localdev.redis_server import RedisServer
from testkit.events import connect_event, disconnect_event, message_event, new_connection_id
from testkit.fake_management_api import FakeManagementApi
from testkit.harness import FakeClock

from . import grants
from .aws_calls import Call, Operation, Tracer, scan
from .conftest import SAMPLE_ACCOUNT, SAMPLE_API_ID, SAMPLE_DEV_REDIS, SAMPLE_OUTPUTS, SAMPLE_REGION

PARTITION = "aws"
OTHER_API_ID = "z9y8x7w6v5"
CONNECTION = "UjH9bdFUIAMCJqA="  # API Gateway's id format
LOG_STREAM = "2026/12/01/[$LATEST]0123456789abcdef0123456789abcdef"  # as Lambda names its streams
AUTH_SECRETS = {
    "prod": SAMPLE_OUTPUTS["RedisAuthSecretArn"],
    "dev": f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat-dev/redis-auth-XyZ123",
}
TURN_SECRET = f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat/turn-QwErTy"
IDENTITY_SECRETS = {  # the infra stack's (chalice deploy and CloudFormation alike) and dev's own
    "prod": SAMPLE_OUTPUTS["IdentitySecretArn"],
    "dev": f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat-dev/identity-secret-MnOpQr",
}
TOKEN = "a-long-auth-token-of-thirty-two-c"
TURN_VALUE = "coturn-static-auth-secret-0123456789"
IDENTITY_VALUE = "an-identity-hmac-key-of-at-least-32-characters"

ENTRY_OF = {  # which chalicelib entry each Lambda runs (app.py)
    "websocket_connect": "on_connect",
    "websocket_message": "on_message",
    "websocket_disconnect": "on_disconnect",
    "sweep": "sweep.run",
    "api_handler": "health, stats, client_config",
}


# ---------------------------------------------------------------- the calls, from the code


class Containers:
    """One service per Lambda function, built on first use under the tracer, as a cold start."""

    def __init__(self, env: dict[str, str], clock: FakeClock, tracer: Tracer) -> None:
        self.env, self.clock, self.tracer = env, clock, tracer
        self.services: dict[str, Any] = {}

    def run(self, function: str, call: Any) -> Any:
        with self.tracer.running(function):
            if function not in self.services:
                self.services[function] = build(load_settings(self.env), clock=self.clock)
            return call(self.services[function])

    def connect(self, ip: str, identity: str = "") -> str:
        cid = new_connection_id()
        query = {"id": identity} if identity else None
        event = connect_event(cid, ip=ip, query=query, connected_at=self.clock())
        assert self.run("websocket_connect", lambda s: entry.on_connect(event, s)) == {"statusCode": 200}
        return cid

    def send(self, cid: str, body: dict[str, Any]) -> None:
        self.run("websocket_message", lambda s: entry.on_message(message_event(cid, body), s))

    def pair(self, ip_a: str, ip_b: str, identity_b: str = "") -> tuple[str, str]:
        a, b = self.connect(ip_a), self.connect(ip_b, identity_b)
        self.send(a, {"action": "register"})
        self.send(b, {"action": "register"})
        return a, b


@pytest.fixture(scope="module")
def traced() -> Iterator[list[Call]]:
    """Every AWS call the functions made in scenarios that reach each call the code contains."""
    with RedisServer(extra_args=["--requirepass", TOKEN]) as server, mock_aws(), FakeManagementApi() as api:
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        auth = secrets.create_secret(Name="randomchat/redis-auth", SecretString=TOKEN)["ARN"]
        turn = secrets.create_secret(Name="randomchat/turn", SecretString=TURN_VALUE)["ARN"]
        identity = secrets.create_secret(Name="randomchat/identity", SecretString=IDENTITY_VALUE)["ARN"]
        names = {auth: "auth", turn: "turn", identity: "identity"}
        with Tracer(api).installed() as tracer:
            yield [
                replace(c, target=names.get(c.target, c.target))
                for c in _scenarios(server, auth, turn, identity, tracer, api.endpoint)
            ]


def _scenarios(server: RedisServer, auth: str, turn: str, identity: str, tracer: Tracer, management: str) -> list[Call]:
    """Run the scenarios that reach every AWS call; return what the tracer recorded."""
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        "AWS_DEFAULT_REGION": "us-east-1",
        "REDIS_URL": server.url,
        "REDIS_AUTH_SECRET_ARN": auth,
        "TURN_URLS": "turns:turn.example.com:5349",
        "TURN_SECRET_ARN": turn,
        "IDENTITY_SECRET_ARN": identity,
        "METRICS_ENABLED": "false",
        "MANAGEMENT_API_URL": management,  # the app's sender speaks HTTP: moto would not see it
    }
    clock = FakeClock()
    lambdas = Containers(env, clock, tracer)
    # The offender is one device across its sockets: it presents the identity a $connect would
    # have issued it (signed with the secret behind IDENTITY_SECRET_ARN).
    offender = Identities(load_settings({**env, "IDENTITY_SECRET_ARN": "", "IDENTITY_SECRET": IDENTITY_VALUE}))
    device = offender.issue().token
    # A match (matched events carry TURN credentials), then reports from three devices ban the
    # offender's: its socket is told and closed.
    for i in range(3):
        reporter, _offender = lambdas.pair(f"198.51.100.{10 + i}", "203.0.113.66", device)
        lambdas.send(reporter, {"action": "report", "reason": "harassment"})
        clock.advance(1)
    # A chat whose stranger's socket drops: $disconnect tells the one left.
    left, gone = lambdas.pair("198.51.100.20", "198.51.100.21")
    lambdas.run("websocket_disconnect", lambda s: entry.on_disconnect(disconnect_event(gone), s))
    # Two waiters with nothing in common are paired by the sweep after the fallback, which
    # also ends the held room once its grace period is over.
    quiet = [lambdas.connect(f"198.51.100.{30 + i}") for i in range(2)]
    for cid, topic in zip(quiet, ("chess", "golf"), strict=True):
        lambdas.send(cid, {"action": "register", "interests": [topic]})
    clock.advance(20)
    stats = lambdas.run("sweep", lambda s: sweep.run(s, clock=clock, window_seconds=0))
    assert stats.paired == 1 and stats.notified >= 1, stats
    for route in (entry.health, entry.stats, entry.client_config):
        lambdas.run("api_handler", route)
    return tracer.calls


def by_function(calls: list[Call], service: str) -> dict[str, set[str]]:
    """function -> the HTTP methods (Management API) or secrets ("auth", "turn", "identity") it used."""
    found: dict[str, set[str]] = {}
    for call in calls:
        if call.operation.service == service:
            kind = call.operation.http_method if service == "apigatewaymanagementapi" else call.target
            found.setdefault(call.function, set()).add(kind)
    return found


def test_the_code_calls_the_management_api_and_secrets_manager_and_nothing_else_on_aws():
    assert scan() == {
        Operation("apigatewaymanagementapi", "PostToConnection"),
        Operation("apigatewaymanagementapi", "DeleteConnection"),
        Operation("secretsmanager", "GetSecretValue"),
    }


def test_the_scenarios_reach_every_operation_the_code_can_call(traced):
    assert {call.operation for call in traced} == scan()
    assert all(call.function for call in traced), "a call made outside any function"


def test_the_functions_that_send_and_close_are_the_ones_the_deploy_grants(traced):
    methods = by_function(traced, "apigatewaymanagementapi")
    assert {f for f, used in methods.items() if "POST" in used} == SENDERS
    assert {f for f, used in methods.items() if "DELETE" in used} == CLOSERS == {"websocket_message"}
    assert set().union(*methods.values()) == {"POST", "DELETE"}  # nothing reads a connection (GET)
    assert {f: set(policies.methods(f)) for f in methods} == methods


def test_every_function_reads_the_auth_token_and_only_the_credential_makers_read_the_turn_secret(traced):
    secrets = by_function(traced, "secretsmanager")
    assert {f for f, used in secrets.items() if "auth" in used} == set(FUNCTIONS)
    assert {f for f, used in secrets.items() if "turn" in used} == TURN_READERS
    assert {f for f, used in secrets.items() if "identity" in used} == IDENTITY_READERS == {"websocket_connect"}
    assert set().union(*secrets.values()) == {"auth", "turn", "identity"}  # no other secret is read


# ---------------------------------------------------------------- what each deploy creates


@dataclass(frozen=True)
class Target:
    """One way of deploying one stage, with the policies it would create."""

    path: str  # "chalice deploy" or "CloudFormation"
    stage: str
    functions: dict[str, grants.Function]  # by Chalice function name
    auth_secret: str  # "" when the stage has none
    turn_secret: str
    identity_secret: str
    in_vpc: bool
    api_stage: str  # API Gateway's stage, the last path segment of both APIs

    def __str__(self) -> str:
        return f"{self.path} --stage {self.stage}"


VARIANTS = ("plain", "secrets")  # secrets: a TURN secret, and for dev a Redis AUTH and an identity secret too


def chalice_target(base: Path, config: dict[str, Any], stage: str, variant: str) -> Target:
    """The project ``python -m deploy deploy`` hands to ``chalice deploy`` (pass 2: API known)."""
    plan = STAGES[stage]
    values = infra.stage_values(SAMPLE_OUTPUTS) if plan.in_vpc else StageValues(redis_url=SAMPLE_DEV_REDIS)
    if variant == "secrets":
        values = replace(values, turn_secret_arn=TURN_SECRET, extra={"TURN_URLS": "turns:turn.example.com:5349"})
        if not plan.in_vpc:  # --redis-auth-secret-arn and --identity-secret-arn
            values = replace(values, auth_secret_arn=AUTH_SECRETS["dev"], identity_secret_arn=IDENTITY_SECRETS["dev"])
    values = replace(values, websocket_url=f"wss://{SAMPLE_API_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api")
    scope = workspace.scope_for(config, plan, values, may_post=True)
    render = policies.Literal(
        {
            "AWS::Partition": PARTITION,
            "AWS::Region": SAMPLE_REGION,
            "AWS::AccountId": SAMPLE_ACCOUNT,
            "WebsocketAPI": SAMPLE_API_ID,
            "AuthTokenSecret": values.auth_secret_arn,
            "TurnSecretArn": values.turn_secret_arn,
            "IdentitySecret": values.identity_secret_arn,
        }
    )
    project = workspace.build(base / f"{stage}-{variant}", config, plan, values, scope, render, share_deployed=False)
    return Target(
        "chalice deploy",
        stage,
        grants.chalice_functions(project, stage),
        values.auth_secret_arn,
        values.turn_secret_arn,
        values.identity_secret_arn,
        plan.in_vpc,
        api_stage(config, stage),
    )


def cloudformation_target(template: dict[str, Any], stage: str, variant: str) -> Target:
    """The packaged template as CloudFormation would create it under the variant's parameters."""
    plan = STAGES[stage]
    parameters: dict[str, str] = {} if plan.in_vpc else {"RedisUrl": SAMPLE_DEV_REDIS}
    if variant == "secrets":
        parameters |= {"TurnUrls": "turns:turn.example.com:5349", "TurnSecretArn": TURN_SECRET}
        if not plan.in_vpc:
            parameters["RedisAuthSecretArn"] = AUTH_SECRETS["dev"]
    stack = f"randomchat-{stage}"
    physical = {
        "WebsocketAPI": SAMPLE_API_ID,
        "RestAPI": "r3s7a9i1d0",
        "AuthTokenSecret": AUTH_SECRETS["prod"],
        "IdentitySecret": IDENTITY_SECRETS[stage],  # every stage's template makes its own
    }
    for logical_id, body in template["Resources"].items():
        if body["Type"] == "AWS::IAM::Role":
            physical[logical_id] = f"{stack}-{logical_id}-1A2B3C4D5E6F"
        elif body["Type"] == "AWS::Serverless::Function":  # Ref is FunctionName, or the name CloudFormation makes
            physical[logical_id] = body["Properties"].get("FunctionName", f"{stack}-{logical_id}-1A2B3C4D5E6F")
    resolver = grants.Resolver(
        template,
        parameters=parameters,
        physical=physical,
        pseudo={
            "AWS::Partition": PARTITION,
            "AWS::Region": SAMPLE_REGION,
            "AWS::AccountId": SAMPLE_ACCOUNT,
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
        },
    )
    functions = grants.cloudformation_functions(template, resolver)
    auth = AUTH_SECRETS["prod"] if plan.in_vpc else parameters.get("RedisAuthSecretArn", "")
    return Target(
        "CloudFormation",
        stage,
        {name: functions[logical_id] for name, logical_id in FUNCTIONS.items()},
        auth,
        parameters.get("TurnSecretArn", ""),
        IDENTITY_SECRETS[stage],
        plan.in_vpc,
        api_stage(load_config(), stage),
    )


TARGETS = [(path, stage, variant) for path in ("chalice deploy", "CloudFormation") for stage in STAGES for variant in VARIANTS]


@pytest.fixture(scope="module")
def targets(tmp_path_factory, config, templates) -> dict[tuple[str, str, str], Target]:
    base = tmp_path_factory.mktemp("iam")
    made: dict[tuple[str, str, str], Target] = {}
    for path, stage, variant in TARGETS:
        if path == "chalice deploy":
            made[(path, stage, variant)] = chalice_target(base, config, stage, variant)
        else:
            made[(path, stage, variant)] = cloudformation_target(templates[stage], stage, variant)
    return made


# ---------------------------------------------------------------- needed and forbidden


def connections(target: Target, method: str, api_id: str = SAMPLE_API_ID) -> str:
    return grants.arn(
        "execute-api:ManageConnections",
        Partition=PARTITION,
        Region=SAMPLE_REGION,
        Account=SAMPLE_ACCOUNT,
        ApiId=api_id,
        Stage=target.api_stage,
        Method=method,
        ApiSpecificResourcePath=f"@connections/{CONNECTION}",
    )


def log_stream(function_name: str, action: str = "logs:PutLogEvents") -> str:
    return grants.arn(
        action,
        Partition=PARTITION,
        Region=SAMPLE_REGION,
        Account=SAMPLE_ACCOUNT,
        LogGroupName=f"/aws/lambda/{function_name}",
        LogStreamName=LOG_STREAM,
    )


def needed(target: Target, function: str, traced: list[Call]) -> list[tuple[str, str, str]]:
    """(action, resource, why) for everything ``function`` must be allowed in ``target``."""
    name = target.functions[function].name
    needs = [(action, log_stream(name, action), "Lambda writes its logs") for action in
             ("logs:CreateLogStream", "logs:PutLogEvents")]  # fmt: skip
    if target.in_vpc:
        needs += [(action, "*", "Lambda attaches the function to the VPC") for action in policies.ENI_ACTIONS]
    for call in traced:
        if call.function != function:
            continue
        action = call.operation.action
        if call.operation.service == "apigatewaymanagementapi":
            needs.append((action, connections(target, call.operation.http_method), call.operation.name))
        elif call.target == "auth" and target.auth_secret:
            needs.append((action, target.auth_secret, "REDIS_AUTH_SECRET_ARN at cold start"))
        elif call.target == "turn" and target.turn_secret:
            needs.append((action, target.turn_secret, "TURN_SECRET_ARN for TURN credentials"))
        elif call.target == "identity" and target.identity_secret:
            needs.append((action, target.identity_secret, "IDENTITY_SECRET_ARN at the first $connect"))
    assert all(grants.fits(action, resource) for action, resource, _ in needs if resource != "*"), needs
    return sorted(set(needs))


def forbidden(target: Target, function: str) -> list[tuple[str, str, str]]:
    """(action, resource, why) for a sample of what ``function`` must not be allowed."""
    name = target.functions[function].name
    other_stage = "dev" if target.stage == "prod" else "prod"
    manage = "execute-api:ManageConnections"
    denied = [
        (manage, connections(target, "POST", OTHER_API_ID), "another API's connections"),
        (manage, connections(target, "DELETE", OTHER_API_ID), "closing another API's connections"),
        (manage, connections(target, "GET"), "reading connections: no code does"),
        ("execute-api:Invoke", f"arn:aws:execute-api:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:{SAMPLE_API_ID}/api/GET/",
         "invoking the APIs"),
        ("logs:PutLogEvents", log_stream(lambda_name("randomchat", other_stage, function)), "the other stage's logs"),
        ("logs:PutLogEvents", log_stream(f"{name}-x"), "a log group whose name extends its own"),
        ("logs:PutLogEvents", log_stream("someone-elses-function"), "another app's logs"),
        ("logs:DeleteLogGroup", f"arn:aws:logs:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:log-group:/aws/lambda/{name}:*",
         "deleting its own logs"),
        ("secretsmanager:GetSecretValue", AUTH_SECRETS[other_stage], "the other stage's AUTH secret"),
        ("secretsmanager:GetSecretValue", IDENTITY_SECRETS[other_stage], "the other stage's identity secret"),
        ("secretsmanager:GetSecretValue",
         f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:someone-elses-AbCdEf", "other secrets"),
        ("secretsmanager:ListSecrets", "*", "listing secrets"),
    ]  # fmt: skip
    if target.auth_secret:
        denied.append(("secretsmanager:PutSecretValue", target.auth_secret, "changing the AUTH token"))
    for other in FUNCTIONS:
        if other != function:
            other_name = target.functions[other].name
            denied.append(("logs:PutLogEvents", log_stream(other_name), f"{other}'s logs"))
    if function not in SENDERS:
        denied.append((manage, connections(target, "POST"), "sending: this function never does"))
    if function not in CLOSERS:
        denied.append((manage, connections(target, "DELETE"), "closing sockets: this function never does"))
    if target.turn_secret and function not in TURN_READERS:
        denied.append(("secretsmanager:GetSecretValue", target.turn_secret, "the TURN secret it never reads"))
    if target.identity_secret:
        denied.append(("secretsmanager:PutSecretValue", target.identity_secret, "changing the identity secret"))
        if function not in IDENTITY_READERS:
            denied.append(
                ("secretsmanager:GetSecretValue", target.identity_secret, "the identity secret it never reads")
            )
    if not target.in_vpc:
        denied.append(("ec2:CreateNetworkInterface", "*", "network interfaces outside a VPC"))
    return denied


@pytest.mark.parametrize(("path", "stage", "variant"), TARGETS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_allowed_every_call_its_code_makes(targets, traced, path, stage, variant, function):
    target = targets[(path, stage, variant)]
    documents = target.functions[function].documents
    refused = [(a, r, why) for a, r, why in needed(target, function, traced) if not grants.decide(documents, a, r)]
    assert refused == [], f"{target}: {function} ({ENTRY_OF[function]}) would be denied"


@pytest.mark.parametrize(("path", "stage", "variant"), TARGETS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_denied_what_its_code_never_needs(targets, path, stage, variant, function):
    target = targets[(path, stage, variant)]
    documents = target.functions[function].documents
    allowed = [(a, r, why) for a, r, why in forbidden(target, function) if grants.decide(documents, a, r)]
    assert allowed == [], f"{target}: {function} would be allowed"


@pytest.mark.parametrize(("path", "stage", "variant"), TARGETS)
def test_every_function_logs_into_a_log_group_the_deploy_creates_with_its_retention(targets, path, stage, variant):
    target = targets[(path, stage, variant)]
    for function, made in target.functions.items():
        if path == "CloudFormation":
            assert made.log_groups == (f"/aws/lambda/{made.name}",), function
        elif function == "api_handler":
            # chalice deploy makes .../randomchat-<stage>-api_handler; the deploy makes the real one
            # (flow.rest_handler_log_group, tested in test_deploy_flow.py).
            assert made.log_groups == (f"/aws/lambda/{made.name}-api_handler",)
        else:
            assert made.log_groups == (f"/aws/lambda/{made.name}",), function


def test_the_evaluator_tells_a_grant_from_a_near_miss():
    # The evaluator itself: wildcards, explicit deny, case-insensitive actions, literal dots.
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": "arn:aws:execute-api:r:1:a/api/POST/@connections/*"},
            {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:aws:logs:r:1:log-group:/a.b:*"},
            {"Effect": "Deny", "Action": "execute-api:*", "Resource": "arn:aws:execute-api:r:1:a/api/POST/@connections/evil"},
        ],
    }  # fmt: skip
    assert grants.decide([document], "execute-api:manageconnections", "arn:aws:execute-api:r:1:a/api/POST/@connections/x")
    assert not grants.decide([document], "execute-api:ManageConnections", "arn:aws:execute-api:r:1:a/api/DELETE/@connections/x")
    assert not grants.decide([document], "execute-api:ManageConnections", "arn:aws:execute-api:r:1:a/api/POST/@connections/evil")
    assert grants.decide([document], "logs:PutLogEvents", "arn:aws:logs:r:1:log-group:/a.b:log-stream:s")
    assert not grants.decide([document], "logs:PutLogEvents", "arn:aws:logs:r:1:log-group:/aXb:log-stream:s")
    with pytest.raises(AssertionError, match="NotResource"):
        grants.decide([{"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "x"}]}], "s3:GetObject", "x")
