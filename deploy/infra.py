"""The infra stack (``infra/stack.yaml``) through CloudFormation change sets, and its outputs.

Creating and updating both go through a change set, like ``aws cloudformation deploy``: a
parameter not given on an update keeps its previous value, and "no changes" is not an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from .workspace import StageValues

# Output names shared by the two deploy paths (chalice deploy and the one-template package).
OUT_SUBNETS = "PrivateSubnetIds"
OUT_SECURITY_GROUP = "LambdaSecurityGroupId"
OUT_REDIS_URL = "RedisUrl"
OUT_REDIS_CLUSTER = "RedisCluster"
OUT_AUTH_SECRET = "RedisAuthSecretArn"
OUT_IDENTITY_SECRET = "IdentitySecretArn"
REQUIRED_OUTPUTS = (
    OUT_SUBNETS,
    OUT_SECURITY_GROUP,
    OUT_REDIS_URL,
    OUT_REDIS_CLUSTER,
    OUT_AUTH_SECRET,
    OUT_IDENTITY_SECRET,
)

# The relay stack's (infra/relay.yaml) outputs the app needs: TURN_URLS and TURN_SECRET_ARN.
OUT_TURN_URLS = "TurnUrls"
OUT_TURN_SECRET = "TurnSecretArn"
RELAY_OUTPUTS = (OUT_TURN_URLS, OUT_TURN_SECRET)

# CloudFormation takes at most this much inline (TemplateBody); the infra stack is sent inline.
TEMPLATE_BODY_LIMIT = 51_200

# A new replication group with Multi-AZ takes 10-20 minutes; deleting a VPC whose Lambda
# interfaces AWS has not released yet can take longer.
WAIT = {"Delay": 15, "MaxAttempts": 240}

Log = Callable[[str], None]


def stage_values(outputs: Mapping[str, str], websocket_url: str = "") -> StageValues:
    """The Chalice stage values the infra stack's outputs provide (for ``chalice deploy``)."""
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SystemExit(f"the infra stack has no output {', '.join(missing)}; is it up to date?")
    return StageValues(
        redis_url=outputs[OUT_REDIS_URL],
        redis_cluster=outputs[OUT_REDIS_CLUSTER] == "true",
        auth_secret_arn=outputs[OUT_AUTH_SECRET],
        identity_secret_arn=outputs[OUT_IDENTITY_SECRET],
        subnet_ids=tuple(outputs[OUT_SUBNETS].split(",")),
        security_group_ids=(outputs[OUT_SECURITY_GROUP],),
        websocket_url=websocket_url,
    )


def describe(cfn: Any, name: str) -> dict[str, Any] | None:
    """The stack, or None if it does not exist."""
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise


def outputs(cfn: Any, name: str) -> dict[str, str]:
    stack = describe(cfn, name)
    if stack is None:
        raise SystemExit(f"stack {name} does not exist; deploy it first")
    return {out["OutputKey"]: out["OutputValue"] for out in stack.get("Outputs", [])}


def deploy(
    cfn: Any,
    name: str,
    template_body: str,
    parameters: Mapping[str, str],
    tags: Mapping[str, str],
    log: Log = print,
) -> dict[str, str]:
    """Create or update the stack and return its outputs."""
    stack = describe(cfn, name)
    if stack is not None and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        raise SystemExit(
            f"stack {name} failed to create and is in ROLLBACK_COMPLETE; read its events in the console, "
            "delete it (python -m deploy teardown) and deploy again"
        )
    kind = "UPDATE" if stack is not None else "CREATE"
    given = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    if stack is not None:
        given += [
            {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True}
            for p in stack.get("Parameters", [])
            if p["ParameterKey"] not in parameters
        ]
    change_set = f"deploy-{int(time.time())}"
    log(f"==> {kind.lower()} stack {name}: creating change set {change_set}")
    cfn.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType=kind,
        TemplateBody=template_body,
        Parameters=given,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        # ApiGatewayAccountRole=true makes an IAM role (no fixed name): CAPABILITY_IAM suffices.
        Capabilities=["CAPABILITY_IAM"],
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=name, ChangeSetName=change_set, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except WaiterError:
        described = cfn.describe_change_set(StackName=name, ChangeSetName=change_set)
        reason = described.get("StatusReason", "")
        if "didn't contain changes" in reason or "No updates are to be performed" in reason:
            log(f"    stack {name} is up to date")
            cfn.delete_change_set(StackName=name, ChangeSetName=change_set)
            return outputs(cfn, name)
        raise SystemExit(f"change set for {name} failed: {reason}") from None
    log("    executing; a new cache takes 10-20 minutes (watch the stack's events in the console)")
    cfn.execute_change_set(StackName=name, ChangeSetName=change_set)
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=name, WaiterConfig=WAIT)
    except WaiterError as exc:
        raise SystemExit(f"stack {name} did not finish: {exc}; CloudFormation rolled it back, see its events") from None
    log(f"    stack {name} is ready")
    return outputs(cfn, name)


def delete(cfn: Any, name: str, log: Log = print) -> None:
    if describe(cfn, name) is None:
        log(f"    stack {name} does not exist")
        return
    log(f"==> deleting stack {name}")
    cfn.delete_stack(StackName=name)
    try:
        cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAIT)
    except WaiterError as exc:
        raise SystemExit(
            f"deleting {name} did not finish: {exc}. AWS keeps a VPC function's network interfaces for a "
            "while (often 20 minutes or more) after the function is deleted; run the teardown again later."
        ) from None
    log(f"    stack {name} deleted")
