"""deploy/infra.py against a stubbed CloudFormation API: create, update, nothing to do, delete."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from deploy import infra

from .conftest import SAMPLE_OUTPUTS

STACK = "randomchat-prod-infra"
BODY = "Resources: {}"
TAGS = {"app": "randomchat", "stage": "prod"}


@pytest.fixture
def cfn() -> Any:
    return boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def stack(status: str, parameters: dict[str, str] | None = None, outputs: dict[str, str] | None = None) -> dict:
    return {
        "Stacks": [
            {
                "StackName": STACK,
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": status,
                "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in (outputs or {}).items()],
            }
        ]
    }


def missing(stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK} does not exist",
        expected_params={"StackName": STACK},
    )


def change_set(status: str, reason: str = "") -> dict:
    return {
        "ChangeSetName": "x",
        "StackName": STACK,
        "Status": status,
        "StatusReason": reason,
        "ExecutionStatus": "AVAILABLE",
    }


def test_a_new_stack_is_created_through_a_change_set_and_its_outputs_returned(cfn):
    with Stubber(cfn) as stubber:
        missing(stubber)
        stubber.add_response(
            "create_change_set",
            {"Id": "cs", "StackId": "st"},
            {
                "StackName": STACK,
                "ChangeSetName": ANY,
                "ChangeSetType": "CREATE",
                "TemplateBody": BODY,
                "Parameters": [{"ParameterKey": "CacheNodeType", "ParameterValue": "cache.t4g.medium"}],
                "Tags": [{"Key": "app", "Value": "randomchat"}, {"Key": "stage", "Value": "prod"}],
                "Capabilities": ["CAPABILITY_IAM"],
            },
        )
        stubber.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
        stubber.add_response("execute_change_set", {}, {"StackName": STACK, "ChangeSetName": ANY})
        stubber.add_response("describe_stacks", stack("CREATE_COMPLETE"))
        stubber.add_response("describe_stacks", stack("CREATE_COMPLETE", outputs=SAMPLE_OUTPUTS))
        outputs = infra.deploy(cfn, STACK, BODY, {"CacheNodeType": "cache.t4g.medium"}, TAGS, log=lambda _: None)
        stubber.assert_no_pending_responses()
    assert outputs == SAMPLE_OUTPUTS


def test_an_update_keeps_the_parameters_not_given_again(cfn):
    with Stubber(cfn) as stubber:
        stubber.add_response(
            "describe_stacks", stack("UPDATE_COMPLETE", {"CacheNodeType": "cache.r7g.large", "NumShards": "1"})
        )
        stubber.add_response(
            "create_change_set",
            {"Id": "cs", "StackId": "st"},
            {
                "StackName": STACK,
                "ChangeSetName": ANY,
                "ChangeSetType": "UPDATE",
                "TemplateBody": BODY,
                "Parameters": [
                    {"ParameterKey": "NumShards", "ParameterValue": "2"},
                    {"ParameterKey": "CacheNodeType", "UsePreviousValue": True},
                ],
                "Tags": ANY,
                "Capabilities": ["CAPABILITY_IAM"],
            },
        )
        stubber.add_response("describe_change_set", change_set("CREATE_COMPLETE"))
        stubber.add_response("execute_change_set", {}, {"StackName": STACK, "ChangeSetName": ANY})
        stubber.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
        stubber.add_response("describe_stacks", stack("UPDATE_COMPLETE", outputs=SAMPLE_OUTPUTS))
        infra.deploy(cfn, STACK, BODY, {"NumShards": "2"}, TAGS, log=lambda _: None)
        stubber.assert_no_pending_responses()


def test_an_update_with_nothing_to_change_is_not_an_error(cfn):
    lines: list[str] = []
    with Stubber(cfn) as stubber:
        stubber.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
        stubber.add_response("create_change_set", {"Id": "cs", "StackId": "st"})
        stubber.add_response(
            "describe_change_set", change_set("FAILED", "The submitted information didn't contain changes.")
        )
        stubber.add_response(
            "describe_change_set", change_set("FAILED", "The submitted information didn't contain changes.")
        )
        stubber.add_response("delete_change_set", {})
        stubber.add_response("describe_stacks", stack("UPDATE_COMPLETE", outputs=SAMPLE_OUTPUTS))
        assert infra.deploy(cfn, STACK, BODY, {}, TAGS, log=lines.append) == SAMPLE_OUTPUTS
    assert any("up to date" in line for line in lines)


def test_a_stack_that_failed_to_create_must_be_deleted_first(cfn):
    with Stubber(cfn) as stubber:
        stubber.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"))
        with pytest.raises(SystemExit, match="ROLLBACK_COMPLETE"):
            infra.deploy(cfn, STACK, BODY, {}, TAGS, log=lambda _: None)


def test_deleting_waits_for_the_stack_to_be_gone(cfn):
    with Stubber(cfn) as stubber:
        stubber.add_response("describe_stacks", stack("UPDATE_COMPLETE"))
        stubber.add_response("delete_stack", {}, {"StackName": STACK})
        stubber.add_response("describe_stacks", stack("DELETE_COMPLETE"))
        infra.delete(cfn, STACK, log=lambda _: None)
        stubber.assert_no_pending_responses()


def test_stage_values_refuse_an_outdated_stack():
    with pytest.raises(SystemExit, match="RedisAuthSecretArn"):
        infra.stage_values({k: v for k, v in SAMPLE_OUTPUTS.items() if k != "RedisAuthSecretArn"})


def test_other_cloudformation_errors_are_not_mistaken_for_a_missing_stack(cfn):
    with Stubber(cfn) as stubber:
        stubber.add_client_error("describe_stacks", "AccessDenied", "not allowed")
        with pytest.raises(ClientError):
            infra.describe(cfn, STACK)


def test_the_infra_template_fits_in_a_change_set_request_without_a_bucket():
    from deploy.stages import INFRA_TEMPLATE

    assert len(INFRA_TEMPLATE.read_bytes()) < infra.TEMPLATE_BODY_LIMIT  # infra.deploy sends it inline
