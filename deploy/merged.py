"""The ``--merge-template`` for the one-template CloudFormation path.

``chalice package --merge-template`` deep-merges this into the SAM template it generates
(dictionaries merge, lists and scalars are replaced). For a stage in the VPC it adds every
resource, parameter, condition and output of ``infra/stack.yaml``, and points each function at
them: ``VpcConfig`` from the private subnets and the Lambda security group, and the environment
from the same expressions the infra stack exports as outputs, so both deploy paths configure the
app identically. ``WEBSOCKET_URL`` is ``${WebsocketAPI}``, the API resource in the same template:
there is no first-deploy chicken-and-egg here, and ``$connect`` admits only the page's own origin
(``${RestAPI}``). A stage outside the VPC gets a ``RedisUrl`` parameter instead of the infra,
and the infra's identity secret (``IdentitySecret``) alone: every stage's ``$connect`` reads its
own generated key of the device identities (``IDENTITY_SECRET_ARN``), and only ``$connect`` may.
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
from .stages import FUNCTIONS, INFRA_TEMPLATE, LAMBDA_RUNTIME, TURN_READERS, Stage, lambda_name

# checkov findings on the generated app resources that we accept, and why.
JUSTIFIED: dict[str, str] = {
    "CKV_AWS_116": (
        "No dead-letter queue: API Gateway invokes the WebSocket and REST handlers synchronously (a DLQ only "
        "catches asynchronous invocations), and a failed sweep is simply run again a minute later."
    ),
    "CKV_AWS_173": (
        "The environment holds no secret (the AUTH token, the TURN secret and the identity key stay in Secrets "
        "Manager, see REDIS_AUTH_SECRET_ARN, TURN_SECRET_ARN and IDENTITY_SECRET_ARN), except $connect's "
        "IDENTITY_PREVIOUS_SECRETS while an identity key is being retired (docs/deploy.md); Lambda encrypts it at "
        "rest with the AWS managed key."
    ),
    "CKV_AWS_115": (
        "No reserved concurrency: a reservation takes capacity from every other function in the account, and "
        "one that leaves the account less than its minimum unreserved concurrency (10 on new accounts) fails "
        "the deploy. The sweep runs alone because of its Redis lock, not a concurrency cap. See docs/deploy.md."
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
        "REST access logs are optional (ApiAccessLogs=true in the VPC stages' template): API Gateway writes them "
        "through one account-wide CloudWatch role (AWS::ApiGateway::Account), which this stack sets only when asked "
        "(ApiGatewayAccountRole=true), so they are off by default."
    ),
    "CKV_AWS_95": (
        "WebSocket access logs are optional (ApiAccessLogs=true), off by default for the same account-wide role; "
        "the Lambda logs record every connection event."
    ),
    "CKV_AWS_120": ("No API cache: the page is a few static files, /config is tiny and /health must never be cached."),
}


# The dev stage's Redis password can only be kept out of the environment with RedisAuthSecretArn.
JUSTIFIED_OUTSIDE_VPC: dict[str, str] = {
    "CKV_AWS_173": (
        "dev: REDIS_URL (the NoEcho RedisUrl parameter) holds the Redis password unless RedisAuthSecretArn is "
        "used; Lambda encrypts the environment at rest with the AWS managed key, and a customer managed key would "
        "not hide it from anyone allowed to read the function's configuration. Use RedisAuthSecretArn for a "
        "Redis that matters."
    ),
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
AUTH_SECRET_PARAMETER = "RedisAuthSecretArn"  # stages outside the VPC; VPC stages get the infra's secret
AUTH_SECRET_CONDITION = "RedisAuthSecretGiven"
IDENTITY_SECRET = "IdentitySecret"  # infra/stack.yaml's resource; stages outside the VPC get it alone
# During a rotation of the identity key, the retired key(s) still verify (docs/deploy.md).
IDENTITY_PREVIOUS_PARAMETER = "IdentityPreviousSecrets"
IDENTITY_PREVIOUS: dict[str, Any] = {
    "Type": "String",
    "Default": "",
    "NoEcho": True,
    "Description": "IDENTITY_PREVIOUS_SECRETS of $connect: comma-separated retired identity keys, only while "
    "rotating the IdentitySecret (keep each for IDENTITY_TTL_DAYS)",
}


def _add_secret_policy(
    merge: dict[str, Any],
    condition: str,
    parameter: str,
    name: str,
    statement: dict[str, Any],
    functions: list[str],
) -> None:
    """A policy letting ``functions`` read the secret named by ``parameter``, made only when the
    parameter is set (an empty ARN is no resource IAM would accept)."""
    no_secret = {"Fn::Equals": [{"Ref": parameter}, ""]}
    merge.setdefault("Conditions", {})[condition] = {"Fn::Not": [no_secret]}
    merge["Resources"][name] = {
        "Type": "AWS::IAM::Policy",
        "Condition": condition,
        "Properties": {
            "PolicyName": name.removesuffix("Policy"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "Roles": [{"Ref": to_cfn_resource_name(f"{function}_role")} for function in functions],
        },
    }


def _add_turn(merge: dict[str, Any], env: dict[str, Any]) -> None:
    """TURN for the one-template path: the parameters, their variables, and a policy letting the
    functions that make TURN credentials read the secret, made only when one is given. Setting
    one parameter without the other stops the functions at cold start with a message naming both.
    """
    merge.setdefault("Parameters", {}).update(TURN_PARAMETERS)
    env["TURN_URLS"] = {"Ref": "TurnUrls"}
    env["TURN_SECRET_ARN"] = {"Ref": "TurnSecretArn"}
    _add_secret_policy(
        merge,
        TURN_CONDITION,
        "TurnSecretArn",
        "ReadTurnSecretPolicy",
        policies.read_turn_secret(policies.cloudformation),
        sorted(TURN_READERS),
    )


def websocket_url(api_stage: str) -> dict[str, str]:
    return {"Fn::Sub": "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + api_stage}


def _skip(*checks: str, reasons: Mapping[str, str] = JUSTIFIED) -> dict[str, Any]:
    return {"checkov": {"skip": [{"id": check, "comment": reasons.get(check, JUSTIFIED[check])} for check in checks]}}


def _annotations(plan: Stage, log_groups: bool) -> dict[str, dict[str, Any]]:
    """checkov skip annotations for the resources Chalice generates."""
    annotated: dict[str, dict[str, Any]] = {}
    reasons = JUSTIFIED if plan.in_vpc else {**JUSTIFIED, **JUSTIFIED_OUTSIDE_VPC}
    for function, logical_id in FUNCTIONS.items():
        checks = ["CKV_AWS_116", "CKV_AWS_173", "CKV_AWS_115"]
        if not plan.in_vpc:
            checks.append("CKV_AWS_117")
        annotated[logical_id] = {"Metadata": _skip(*checks, reasons=reasons)}
        if plan.in_vpc:
            annotated[to_cfn_resource_name(f"{function}_role")] = {"Metadata": _skip("CKV_AWS_111")}
        if log_groups:
            annotated[f"{to_cfn_resource_name(function)}LogGroup"] = {"Metadata": _skip("CKV_AWS_158")}
    annotated["RestAPI"] = {"Metadata": _skip("CKV_AWS_73", "CKV_AWS_76", "CKV_AWS_120")}
    annotated["WebsocketAPIStage"] = {"Metadata": _skip("CKV_AWS_95")}
    return annotated


def _replace_ref(node: Any, name: str, value: dict[str, Any]) -> Any:
    """``node`` with every ``Ref`` to ``name`` (and ``${name}`` in ``Fn::Sub``) replaced by ``value``."""
    if isinstance(node, list):
        return [_replace_ref(item, name, value) for item in node]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": name}:
        return value
    if set(node) == {"Fn::Sub"} and "Ref" in value:
        arg = node["Fn::Sub"]
        text, variables = (arg, None) if isinstance(arg, str) else (arg[0], arg[1])
        text = text.replace("${" + name + "}", "${" + value["Ref"] + "}")
        sub = text if variables is None else [text, _replace_ref(variables, name, value)]
        return {"Fn::Sub": sub}
    return {key: _replace_ref(item, name, value) for key, item in node.items()}


def _bind_infra(merge: dict[str, Any], app_name: str, stage_name: str, api_stage: str) -> None:
    """Fix the infra stack's monitoring parameters to this template's own resources and names.

    Standalone, the infra stack learns the app's names from parameters (``python -m deploy`` sets
    them); merged with the app, the WebSocket API is a resource of the same template and the names
    are fixed, so the parameter becomes a Ref to the API and the others admit their one value.
    """
    merge["Parameters"].pop("WebSocketApiId")
    merge["Conditions"].pop("HasWebSocketApi")
    for section in ("Resources", "Outputs"):
        merge[section] = _replace_ref(merge[section], "WebSocketApiId", {"Ref": "WebsocketAPI"})
        for body in merge[section].values():
            if body.get("Condition") == "HasWebSocketApi":
                del body["Condition"]
    for parameter, only in (
        ("FunctionPrefix", lambda_name(app_name, stage_name, "api_handler")),
        ("ApiStage", api_stage),
        ("RestApiName", app_name),
    ):
        merge["Parameters"][parameter] = {**merge["Parameters"][parameter], "Default": only, "AllowedValues": [only]}


# Access log lines, one JSON object per request (only the fields that help find a problem).
WEBSOCKET_ACCESS_LOG = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","connectionId":"$context.connectionId",'
    '"routeKey":"$context.routeKey","eventType":"$context.eventType","status":"$context.status",'
    '"error":"$context.error.message","integrationError":"$context.integrationErrorMessage",'
    '"requestTime":"$context.requestTimeEpoch"}'
)
REST_ACCESS_LOG = (
    '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","method":"$context.httpMethod",'
    '"path":"$context.resourcePath","status":"$context.status","latencyMs":"$context.responseLatency",'
    '"requestTime":"$context.requestTimeEpoch"}'
)


def _access_logs(app: dict[str, Any]) -> None:
    """Both API stages log to the infra's access log group when ``ApiAccessLogs`` is true."""
    destination = {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    for logical_id, key, line in (
        ("WebsocketAPIStage", "AccessLogSettings", WEBSOCKET_ACCESS_LOG),
        ("RestAPI", "AccessLogSetting", REST_ACCESS_LOG),
    ):
        setting = {"DestinationArn": destination, "Format": line}
        properties = app.setdefault(logical_id, {}).setdefault("Properties", {})
        properties[key] = {"Fn::If": ["AccessLogsOn", setting, {"Ref": "AWS::NoValue"}]}


def _deep_update(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def template(
    plan: Stage,
    api_stage: str,
    *,
    app_name: str,
    log_groups: bool,
    infra_template: Path = INFRA_TEMPLATE,
) -> dict[str, Any]:
    """The merge template for ``plan``; ``log_groups`` when the stage sets log_retention_in_days."""
    merge: dict[str, Any] = {"Resources": {}}
    stack = cfn_yaml.load(infra_template)
    out = {name: body["Value"] for name, body in stack["Outputs"].items()}
    if plan.in_vpc:
        merge["Description"] = f"randomchat {plan.name}: the Chalice app and its network and cache (infra/stack.yaml)"
        for section in ("Parameters", "Conditions", "Mappings", "Resources", "Outputs"):
            if section in stack:
                merge[section] = dict(stack[section])
        _bind_infra(merge, app_name, plan.name, api_stage)
        env: dict[str, Any] = {
            "REDIS_URL": out[infra.OUT_REDIS_URL],
            "REDIS_CLUSTER": out[infra.OUT_REDIS_CLUSTER],
            "REDIS_AUTH_SECRET_ARN": out[infra.OUT_AUTH_SECRET],
            "IDENTITY_SECRET_ARN": out[infra.OUT_IDENTITY_SECRET],
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
            AUTH_SECRET_PARAMETER: {
                "Type": "String",
                "Default": "",
                "AllowedPattern": f"^({policies.SECRET_ARN_PATTERN})?$",
                "Description": "REDIS_AUTH_SECRET_ARN: Secrets Manager secret with the Redis password (then leave it "
                "out of RedisUrl, and it stays out of the environment)",
            },
        }
        env = {
            "REDIS_URL": {"Ref": "RedisUrl"},
            "REDIS_CLUSTER": {"Ref": "RedisCluster"},
            "REDIS_AUTH_SECRET_ARN": {"Ref": AUTH_SECRET_PARAMETER},
            "IDENTITY_SECRET_ARN": out[infra.OUT_IDENTITY_SECRET],
        }
        # The same generated secret as the infra stack's, so $connect's policy (ReadIdentitySecret
        # on ${IdentitySecret}, deploy/policies.py) is the same on every stage.
        merge["Resources"][IDENTITY_SECRET] = stack["Resources"][IDENTITY_SECRET]
        merge["Outputs"] = {infra.OUT_IDENTITY_SECRET: stack["Outputs"][infra.OUT_IDENTITY_SECRET]}
        _add_secret_policy(
            merge,
            AUTH_SECRET_CONDITION,
            AUTH_SECRET_PARAMETER,
            "ReadRedisAuthTokenPolicy",
            policies.read_secret("ReadRedisAuthToken", policies.cloudformation("${" + AUTH_SECRET_PARAMETER + "}")),
            sorted(FUNCTIONS),
        )
        vpc = None
    env["WEBSOCKET_URL"] = websocket_url(api_stage)
    _add_turn(merge, env)
    merge["Parameters"][IDENTITY_PREVIOUS_PARAMETER] = IDENTITY_PREVIOUS
    app: dict[str, Any] = {}
    for function, logical_id in FUNCTIONS.items():
        properties: dict[str, Any] = {
            # Without a FunctionName CloudFormation names a function <stack>-<LogicalId>-<suffix>, and
            # its log group would fall outside the role's log grant; these are chalice deploy's names.
            "FunctionName": lambda_name(app_name, plan.name, function),
            "Runtime": LAMBDA_RUNTIME,
            "Environment": {"Variables": dict(env)},
        }
        if vpc is not None:
            properties["VpcConfig"] = vpc
        app[logical_id] = {"Properties": properties}
    # Only $connect checks the Origin; the page is served by the REST API of the same template.
    # (Setting it on APIHandler would make a cycle: the REST API's definition refers to APIHandler.)
    connect_env = app[FUNCTIONS["websocket_connect"]]["Properties"]["Environment"]["Variables"]
    connect_env["ALLOWED_ORIGINS"] = {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    # Only $connect verifies identities (IDENTITY_READERS), so only it holds retired keys.
    connect_env["IDENTITY_PREVIOUS_SECRETS"] = {"Ref": IDENTITY_PREVIOUS_PARAMETER}
    # The REST API's name is its metrics' ApiName (the infra's alarms and dashboard): the app's
    # name, as chalice deploy names it, rather than whatever the transform would pick.
    app["RestAPI"] = {"Properties": {"Name": app_name}}
    if plan.in_vpc:
        _access_logs(app)
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
