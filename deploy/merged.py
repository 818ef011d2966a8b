"""The ``--merge-template`` for the one-template CloudFormation path.

``chalice package --merge-template`` deep-merges this into the SAM template it generates
(dictionaries merge, lists and scalars are replaced). For a stage in the VPC it adds every
resource, parameter, condition and output of ``infra/stack.yaml``, and points each function at
them: ``VpcConfig`` from the private subnets and the Lambda security group, and the environment
from the same expressions the infra stack exports as outputs, so both deploy paths configure the
app identically. ``WEBSOCKET_URL`` is ``${WebsocketAPI}``, the API resource in the same template:
there is no first-deploy chicken-and-egg here, and ``$connect`` admits only the page's own origin
(``${RestAPI}``). A stage outside the VPC gets a ``RedisUrl`` parameter instead of the infra.
Every stage takes optional ``TurnUrls`` and ``TurnSecretArn`` parameters; with them, the
functions that make TURN credentials get a policy to read that one secret.

It also carries, as checkov skip annotations, the reason for every finding checkov reports on the
resources Chalice generates (see :data:`JUSTIFIED`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalice.utils import to_cfn_resource_name

from . import cfn_yaml, infra, policies
from .stages import FUNCTIONS, INFRA_TEMPLATE, TURN_READERS, Stage

# checkov findings on the generated app resources that we accept, and why.
JUSTIFIED: dict[str, str] = {
    "CKV_AWS_116": (
        "No dead-letter queue: API Gateway invokes the WebSocket and REST handlers synchronously (a DLQ only "
        "catches asynchronous invocations), and a failed sweep is simply run again a minute later."
    ),
    "CKV_AWS_173": (
        "The environment holds no secret (the AUTH token and the TURN secret stay in Secrets Manager, see "
        "REDIS_AUTH_SECRET_ARN and TURN_SECRET_ARN); Lambda encrypts it at rest with the AWS managed key."
    ),
    "CKV_AWS_115": (
        "No reserved concurrency on the request handlers: reserving capacity takes it from every other "
        "function in the account. Only the sweep is capped (reserved concurrency 1). See infra/README.md, scaling."
    ),
    "CKV_AWS_117": "This stage runs outside any VPC by design, against a Redis reachable from the internet.",
    "CKV_AWS_111": (
        "The only unconstrained write actions are the VPC network-interface actions Lambda performs with the "
        "execution role (those of AWSLambdaVPCAccessExecutionRole); Lambda picks the interface ids, so they "
        "cannot be scoped to resources."
    ),
    "CKV_AWS_158": (
        "Logs are encrypted by CloudWatch Logs with its service key; they hold connection ids and errors, and "
        "expire after the stage's log_retention_in_days."
    ),
    "CKV_AWS_73": 'No X-Ray on the REST API: it serves a static page and /config; turn on "xray" per stage if needed.',
    "CKV_AWS_76": (
        "No REST access logs: API Gateway writes them through one account-wide CloudWatch role "
        "(AWS::ApiGateway::Account), which an application stack must not own; enable it per account if required."
    ),
    "CKV_AWS_95": (
        "No WebSocket access logs, for the same account-wide role; Lambda logs record every connection event."
    ),
    "CKV_AWS_120": ("No API cache: the page is a few static files, /config is tiny and /health must never be cached."),
}


TURN_PARAMETERS: dict[str, Any] = {
    "TurnUrls": {
        "Type": "String",
        "Default": "",
        "Description": "TURN_URLS: comma-separated turn:/turns: URLs of your coturn; set with TurnSecretArn",
    },
    "TurnSecretArn": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": f"^({policies.SECRET_ARN_PATTERN})?$",
        "Description": "TURN_SECRET_ARN: Secrets Manager secret with coturn's static-auth-secret; set with TurnUrls",
    },
}
TURN_CONDITION = "TurnSecretGiven"


def _add_turn(merge: dict[str, Any], env: dict[str, Any]) -> None:
    """TURN for the one-template path: the parameters, their variables, and a policy letting the
    functions that make TURN credentials read the secret, made only when one is given. Setting
    one parameter without the other stops the functions at cold start with a message naming both.
    """
    merge.setdefault("Parameters", {}).update(TURN_PARAMETERS)
    no_secret = {"Fn::Equals": [{"Ref": "TurnSecretArn"}, ""]}
    merge.setdefault("Conditions", {})[TURN_CONDITION] = {"Fn::Not": [no_secret]}
    env["TURN_URLS"] = {"Ref": "TurnUrls"}
    env["TURN_SECRET_ARN"] = {"Ref": "TurnSecretArn"}
    merge["Resources"]["ReadTurnSecretPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Condition": TURN_CONDITION,
        "Properties": {
            "PolicyName": "ReadTurnSecret",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [policies.read_turn_secret(policies.cloudformation)],
            },
            "Roles": [{"Ref": to_cfn_resource_name(f"{function}_role")} for function in sorted(TURN_READERS)],
        },
    }


def websocket_url(api_stage: str) -> dict[str, str]:
    return {"Fn::Sub": "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + api_stage}


def _skip(*checks: str) -> dict[str, Any]:
    return {"checkov": {"skip": [{"id": check, "comment": JUSTIFIED[check]} for check in checks]}}


def _annotations(plan: Stage, log_groups: bool) -> dict[str, dict[str, Any]]:
    """checkov skip annotations for the resources Chalice generates."""
    annotated: dict[str, dict[str, Any]] = {}
    for function, logical_id in FUNCTIONS.items():
        checks = ["CKV_AWS_116", "CKV_AWS_173"]
        if function != "sweep":
            checks.append("CKV_AWS_115")
        if not plan.in_vpc:
            checks.append("CKV_AWS_117")
        annotated[logical_id] = {"Metadata": _skip(*checks)}
        if plan.in_vpc:
            annotated[to_cfn_resource_name(f"{function}_role")] = {"Metadata": _skip("CKV_AWS_111")}
        if log_groups:
            annotated[f"{to_cfn_resource_name(function)}LogGroup"] = {"Metadata": _skip("CKV_AWS_158")}
    annotated["RestAPI"] = {"Metadata": _skip("CKV_AWS_73", "CKV_AWS_76", "CKV_AWS_120")}
    annotated["WebsocketAPIStage"] = {"Metadata": _skip("CKV_AWS_95")}
    return annotated


def _deep_update(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def template(plan: Stage, api_stage: str, *, log_groups: bool, infra_template: Path = INFRA_TEMPLATE) -> dict[str, Any]:
    """The merge template for ``plan``; ``log_groups`` when the stage sets log_retention_in_days."""
    merge: dict[str, Any] = {"Resources": {}}
    if plan.in_vpc:
        stack = cfn_yaml.load(infra_template)
        out = {name: body["Value"] for name, body in stack["Outputs"].items()}
        merge["Description"] = f"randomchat {plan.name}: the Chalice app and its network and cache (infra/stack.yaml)"
        for section in ("Parameters", "Conditions", "Mappings", "Resources", "Outputs"):
            if section in stack:
                merge[section] = dict(stack[section])
        env: dict[str, Any] = {
            "REDIS_URL": out[infra.OUT_REDIS_URL],
            "REDIS_CLUSTER": out[infra.OUT_REDIS_CLUSTER],
            "REDIS_AUTH_SECRET_ARN": out[infra.OUT_AUTH_SECRET],
        }
        vpc: dict[str, Any] | None = {
            "SubnetIds": {"Fn::Split": [",", out[infra.OUT_SUBNETS]]},
            "SecurityGroupIds": [out[infra.OUT_SECURITY_GROUP]],
        }
    else:
        merge["Description"] = f"randomchat {plan.name}: the Chalice app, against a Redis you provide"
        merge["Parameters"] = {
            "RedisUrl": {
                "Type": "String",
                "NoEcho": True,
                "AllowedPattern": "^(redis|rediss)://.+",
                "Description": "REDIS_URL of a Redis the functions can reach (it ends up in their environment)",
            },
            "RedisCluster": {
                "Type": "String",
                "Default": "false",
                "AllowedValues": ["true", "false"],
                "Description": "REDIS_CLUSTER: true for a cluster-mode Redis",
            },
        }
        env = {"REDIS_URL": {"Ref": "RedisUrl"}, "REDIS_CLUSTER": {"Ref": "RedisCluster"}}
        vpc = None
    env["WEBSOCKET_URL"] = websocket_url(api_stage)
    _add_turn(merge, env)
    app: dict[str, Any] = {}
    for logical_id in FUNCTIONS.values():
        properties: dict[str, Any] = {"Environment": {"Variables": dict(env)}}
        if vpc is not None:
            properties["VpcConfig"] = vpc
        app[logical_id] = {"Properties": properties}
    # Only $connect checks the Origin; the page is served by the REST API of the same template.
    # (Setting it on APIHandler would make a cycle: the REST API's definition refers to APIHandler.)
    app[FUNCTIONS["websocket_connect"]]["Properties"]["Environment"]["Variables"]["ALLOWED_ORIGINS"] = {
        "Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    if log_groups:
        # Chalice 1.34 renames the REST handler to APIHandler but names it ${ApiHandler} in its log
        # group (aws/chalice#2079), which CloudFormation rejects; point the log group at the real name.
        app["ApiHandlerLogGroup"] = {"Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${APIHandler}"}}}
    _deep_update(app, _annotations(plan, log_groups))
    merge["Resources"].update(app)
    return merge


def check(merged: Mapping[str, Any], merge: Mapping[str, Any]) -> None:
    """Fail if an infra resource collided with a generated one, or a merged-into resource is missing.

    The deep merge would silently mix two resources of the same name (an infra resource that
    comes out different from its definition had a generated twin), and would leave a resource
    without a type where Chalice generated none of that name.
    """
    for name, body in merge["Resources"].items():
        if "Type" in body:
            if merged["Resources"].get(name) != body:
                raise SystemExit(f"resource {name} of infra/stack.yaml collides with one Chalice generates; rename it")
        elif "Type" not in merged["Resources"].get(name, {}):
            raise SystemExit(f"chalice package generated no {name}; update deploy/stages.py or deploy/merged.py")
