"""Least-privilege IAM policies, one per Lambda function.

Chalice's generated policy allows ``execute-api:ManageConnections`` on
``arn:*:execute-api:*:*:*/@connections/*``: every WebSocket API in every account. Ours allows
each function only the Management API methods its code calls, on this API's connections only:
POST (send) for the functions that send, and DELETE (close a socket) for the one that closes
sockets. The IAM resource is ``{ApiId}/{Stage}/{METHOD}/@connections/{id}``, so a grant on POST
alone cannot close anything. ``tests/deploy/test_iam_grants.py`` evaluates these documents with
an IAM policy evaluator against every AWS call the code makes.

The API id does not exist before the first deploy, which is why ARNs are written once, in
CloudFormation ``Fn::Sub`` syntax, and rendered two ways:

* :class:`Literal` fills in the values for ``chalice deploy`` (account, region and, after the
  first deploy created it, the WebSocket API id; until then the senders get no
  ManageConnections at all, see ``deploy/flow.py``);
* :func:`cloudformation` keeps them as ``Fn::Sub`` for ``chalice package``, where
  ``${WebsocketAPI}`` is the API resource in the same template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .stages import CLOSERS, IDENTITY_READERS, SENDERS, TURN_READERS, lambda_name

Render = Callable[[str], Any]

# execute-api:ManageConnections on this API's connections, for one stage and one HTTP method.
CONNECTIONS_ARN = (
    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/%s/%s/@connections/*"
)
LOG_STREAMS_ARN = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/%s:*"
AUTH_SECRET_ARN = "${AuthTokenSecret}"
TURN_SECRET_ARN = "${TurnSecretArn}"
IDENTITY_SECRET_ARN = "${IdentitySecret}"
# What a Secrets Manager secret's ARN looks like, to refuse a typo before IAM or a cold start does.
SECRET_ARN_PATTERN = r"arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:.+"

# Lambda itself manages the function's network interfaces with the execution role. These are the
# actions of the AWS managed AWSLambdaVPCAccessExecutionRole; DescribeNetworkInterfaces only works
# on "*", and Lambda needs the others on interfaces whose ids it chooses.
ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


class Literal:
    """Render an ARN template with known values, for ``chalice deploy``."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def __call__(self, template: str) -> str:
        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.values:
                raise KeyError(f"no value for ${{{name}}} in {template!r}")
            return self.values[name]

        return _PLACEHOLDER.sub(fill, template)


def cloudformation(template: str) -> dict[str, str]:
    """Leave the ARN to CloudFormation (``chalice package`` copies policy files verbatim)."""
    return {"Fn::Sub": template}


@dataclass(frozen=True)
class Scope:
    """What one stage's functions may touch."""

    app_name: str
    stage: str
    api_stage: str
    in_vpc: bool
    may_post: bool  # False until the WebSocket API id is known (first deploy, phase one)
    auth_secret: bool
    turn_secret: bool  # TURN_SECRET_ARN is set: the functions that make TURN credentials read it
    identity_secret: bool  # IDENTITY_SECRET_ARN is set: $connect (IDENTITY_READERS) reads it


def function_name(scope: Scope, function: str) -> str:
    """The deployed Lambda name (see :func:`deploy.stages.lambda_name`)."""
    return lambda_name(scope.app_name, scope.stage, function)


def methods(function: str) -> list[str]:
    """The Management API methods ``function`` calls: POST to send, DELETE to close a socket."""
    return [method for method, callers in (("POST", SENDERS), ("DELETE", CLOSERS)) if function in callers]


def document(function: str, scope: Scope, render: Render) -> dict[str, Any]:
    """The IAM policy document of one function."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": render(LOG_STREAMS_ARN % function_name(scope, function)),
        }
    ]
    if methods(function) and scope.may_post:
        statements.append(
            {
                "Sid": "ManageThisApisConnections",
                "Effect": "Allow",
                "Action": ["execute-api:ManageConnections"],
                "Resource": [render(CONNECTIONS_ARN % (scope.api_stage, method)) for method in methods(function)],
            }
        )
    if scope.in_vpc:
        statements.append(
            {"Sid": "LambdaVpcNetworkInterfaces", "Effect": "Allow", "Action": ENI_ACTIONS, "Resource": "*"}
        )
    if scope.auth_secret:
        statements.append(read_secret("ReadRedisAuthToken", render(AUTH_SECRET_ARN)))
    if scope.turn_secret and function in TURN_READERS:
        statements.append(read_turn_secret(render))
    if scope.identity_secret and function in IDENTITY_READERS:
        statements.append(read_secret("ReadIdentitySecret", render(IDENTITY_SECRET_ARN)))
    return {"Version": "2012-10-17", "Statement": statements}


def read_secret(sid: str, resource: Any) -> dict[str, Any]:
    """Read one secret's value; nothing else in Secrets Manager (no listing, no other secrets)."""
    return {"Sid": sid, "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": resource}


def read_turn_secret(render: Render) -> dict[str, Any]:
    """The statement that lets a function read coturn's secret (``TURN_SECRET_ARN``)."""
    return read_secret("ReadTurnSecret", render(TURN_SECRET_ARN))
