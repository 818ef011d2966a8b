"""What ``chalice package`` produces for every stage, through both deploy paths.

``templates`` are the one-template CloudFormation path (``python -m deploy package``, app merged
with infra for prod); ``deploy_projects`` are what ``python -m deploy deploy`` hands to
``chalice deploy``, packaged here so their contents can be read offline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import IDENTITY_SECRET_MIN_CHARS
from deploy import merged, policies, scanners
from deploy.stages import CLOSERS, FUNCTIONS, IDENTITY_READERS, LAMBDA_RUNTIME, SENDERS, STAGES, TURN_READERS

from .conftest import SAMPLE_ACCOUNT, SAMPLE_API_ID, SAMPLE_OUTPUTS, SAMPLE_PAGE_ORIGIN, SAMPLE_REGION

CONNECTIONS_SUB = (
    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/api/%s/@connections/*"
)
TURN_POLICY = "ReadTurnSecretPolicy"
AUTH_POLICY = "ReadRedisAuthTokenPolicy"  # dev's optional RedisAuthSecretArn
CONNECTIONS_LITERAL = f"arn:aws:execute-api:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:{SAMPLE_API_ID}/api/%s/@connections/*"


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(role, statement) for every statement of every IAM role and policy in the template."""
    found = []
    for name, role in of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            found += [(name, s) for s in policy["PolicyDocument"]["Statement"]]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in of_type(template, kind).items():
            found += [(name, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_role(template: dict[str, Any], logical_id: str) -> str:
    return template["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]


@pytest.fixture(scope="module")
def deploy_templates(deploy_projects: dict[str, Path]) -> dict[str, dict[str, Any]]:
    return {name: json.loads(path.read_text()) for name, path in deploy_projects.items()}


@pytest.mark.parametrize("stage", STAGES)
def test_the_websocket_api_has_connect_disconnect_and_default_routes_to_their_handlers(templates, stage):
    template = templates[stage]
    (api,) = of_type(template, "AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    integrations = of_type(template, "AWS::ApiGatewayV2::Integration")
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        for r in of_type(template, "AWS::ApiGatewayV2::Route").values()
    }
    handler = {
        key: integrations[integration]["Properties"]["IntegrationUri"]["Fn::Sub"][1]["WebsocketHandler"]["Ref"]
        for key, integration in routes.items()
    }
    assert handler == {
        "$connect": "WebsocketConnect",
        "$disconnect": "WebsocketDisconnect",
        "$default": "WebsocketMessage",
    }
    (stage_resource,) = of_type(template, "AWS::ApiGatewayV2::Stage").values()
    assert stage_resource["Properties"]["StageName"] == "api"


@pytest.mark.parametrize("stage", STAGES)
def test_the_rest_api_serves_the_page_config_and_health_on_stage_api(templates, stage):
    rest = templates[stage]["Resources"]["RestAPI"]
    assert rest["Type"] == "AWS::Serverless::Api"
    assert rest["Properties"]["StageName"] == "api"
    assert {"/", "/static/{name}", "/config", "/health"} <= set(rest["Properties"]["DefinitionBody"]["paths"])


@pytest.mark.parametrize("stage", STAGES)
def test_the_sweep_runs_on_a_one_minute_schedule_and_reserves_no_concurrency(templates, deploy_templates, stage):
    sweep = templates[stage]["Resources"]["Sweep"]["Properties"]
    assert [e["Type"] for e in sweep["Events"].values()] == ["Schedule"]
    assert [e["Properties"]["Schedule"] for e in sweep["Events"].values()] == ["rate(1 minute)"]
    assert sweep["Timeout"] == 60
    # A reservation can fail a first deploy on a new account; the sweep's Redis lock keeps it single.
    for template in (templates[stage], deploy_templates[stage]):
        for function in of_type(template, "AWS::Serverless::Function").values():
            assert "ReservedConcurrentExecutions" not in function["Properties"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_runs_on_the_pinned_python_runtime(templates, deploy_templates, stage):
    for template in (templates[stage], deploy_templates[stage]):
        for function in of_type(template, "AWS::Serverless::Function").values():
            assert function["Properties"]["Runtime"] == LAMBDA_RUNTIME


@pytest.mark.parametrize("stage", STAGES)
def test_the_functions_are_exactly_the_ones_the_deploy_knows(templates, stage):
    functions = of_type(templates[stage], "AWS::Serverless::Function")
    assert set(functions) == set(FUNCTIONS.values())


def test_prod_functions_run_in_the_private_subnets_behind_the_lambda_security_group(templates):
    template = templates["prod"]
    for logical_id in FUNCTIONS.values():
        vpc = template["Resources"][logical_id]["Properties"]["VpcConfig"]
        joined = vpc["SubnetIds"]["Fn::Split"][1]["Fn::Join"][1]
        assert [s["Ref"] for s in joined] == ["PrivateSubnetA", "PrivateSubnetB"]
        assert vpc["SecurityGroupIds"] == [{"Fn::GetAtt": ["LambdaSecurityGroup", "GroupId"]}]


def test_the_prod_deploy_project_puts_the_functions_in_the_infra_stacks_subnets(deploy_templates):
    for logical_id in FUNCTIONS.values():
        vpc = deploy_templates["prod"]["Resources"][logical_id]["Properties"]["VpcConfig"]
        assert vpc["SubnetIds"] == SAMPLE_OUTPUTS["PrivateSubnetIds"].split(",")
        assert vpc["SecurityGroupIds"] == [SAMPLE_OUTPUTS["LambdaSecurityGroupId"]]


def test_dev_functions_run_outside_any_vpc(templates, deploy_templates):
    for template in (templates["dev"], deploy_templates["dev"]):
        for logical_id in FUNCTIONS.values():
            assert "VpcConfig" not in template["Resources"][logical_id]["Properties"]


def _execute_api_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for role, statement in statements(template):
        actions = as_list(statement["Action"])
        assert "*" not in actions and "execute-api:*" not in actions, (role, statement)
        if any(a.lower().startswith("execute-api:") for a in actions):
            found.append((role, statement))
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_no_policy_lets_a_function_manage_connections_beyond_its_methods_on_this_api(
    templates, deploy_templates, stage
):
    for template, render in (
        (templates[stage], lambda method: {"Fn::Sub": CONNECTIONS_SUB % method}),
        (deploy_templates[stage], lambda method: CONNECTIONS_LITERAL % method),
    ):
        granted = _execute_api_statements(template)
        assert granted, "the senders need execute-api:ManageConnections"
        roles = {function_role(template, FUNCTIONS[f]): f for f in FUNCTIONS}
        for role, statement in granted:
            methods = ["POST"] + (["DELETE"] if roles[role] in CLOSERS else [])
            assert as_list(statement["Action"]) == ["execute-api:ManageConnections"], role
            assert as_list(statement["Resource"]) == [render(m) for m in methods], role
            assert statement["Effect"] == "Allow" and "Condition" not in statement


@pytest.mark.parametrize("stage", STAGES)
def test_only_the_functions_that_send_may_post_to_connections(templates, stage):
    template = templates[stage]
    posting_roles = {role for role, _ in _execute_api_statements(template)}
    senders = {function_role(template, FUNCTIONS[f]) for f in SENDERS}
    assert posting_roles == senders


@pytest.mark.parametrize("stage", STAGES)
def test_the_only_statements_on_every_resource_are_the_vpc_network_interface_actions(
    templates, deploy_templates, stage
):
    for template in (templates[stage], deploy_templates[stage]):
        for role, statement in statements(template):
            if "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= set(policies.ENI_ACTIONS), (role, statement)
                assert STAGES[stage].in_vpc, (role, statement)


def secret_reads(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(r, s) for r, s in statements(template) if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))]


def test_prod_functions_may_read_the_auth_token_secret_and_nothing_else_in_secrets_manager(templates, deploy_templates):
    expected = [({"Fn::Sub": "${AuthTokenSecret}"}), SAMPLE_OUTPUTS["RedisAuthSecretArn"]]
    assert AUTH_POLICY not in templates["prod"]["Resources"]  # the infra's secret, not a parameter
    for template, secret in zip((templates["prod"], deploy_templates["prod"]), expected, strict=True):
        reads = [s for role, s in secret_reads(template) if role != TURN_POLICY and s["Sid"] != "ReadIdentitySecret"]
        assert len(reads) == len(FUNCTIONS)
        assert all(s["Action"] == ["secretsmanager:GetSecretValue"] and s["Resource"] == secret for s in reads)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_generates_its_identity_secret_and_only_connect_may_read_it(templates, deploy_templates, stage):
    template = templates[stage]
    secret = template["Resources"][merged.IDENTITY_SECRET]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "SecretString" not in secret["Properties"]
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= IDENTITY_SECRET_MIN_CHARS
    assert template["Outputs"]["IdentitySecretArn"]["Value"] == {"Ref": merged.IDENTITY_SECRET}
    for logical_id in FUNCTIONS.values():
        env = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert env["IDENTITY_SECRET_ARN"] == {"Ref": merged.IDENTITY_SECRET} and "IDENTITY_SECRET" not in env
    connect = {function_role(template, FUNCTIONS[f]) for f in IDENTITY_READERS}
    assert connect == {"WebsocketConnectRole"}
    # Rotation: retired keys reach $connect alone, through a NoEcho parameter that is empty by default.
    previous = template["Parameters"][merged.IDENTITY_PREVIOUS_PARAMETER]
    assert previous["NoEcho"] is True and previous["Default"] == ""
    holders = {
        logical_id
        for logical_id in FUNCTIONS.values()
        if "IDENTITY_PREVIOUS_SECRETS" in template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
    }
    assert holders == {FUNCTIONS[f] for f in IDENTITY_READERS}
    connect_env = template["Resources"][FUNCTIONS["websocket_connect"]]["Properties"]["Environment"]["Variables"]
    assert connect_env["IDENTITY_PREVIOUS_SECRETS"] == {"Ref": merged.IDENTITY_PREVIOUS_PARAMETER}
    identity = {"Fn::Sub": "${IdentitySecret}"}
    assert {role for role, s in secret_reads(template) if s["Resource"] == identity} == connect
    # chalice deploy: prod reads the infra stack's secret (its output); dev only with --identity-secret-arn.
    deploy_template = deploy_templates[stage]
    readers = {role for role, s in secret_reads(deploy_template) if s["Sid"] == "ReadIdentitySecret"}
    if STAGES[stage].in_vpc:
        assert readers == {function_role(deploy_template, FUNCTIONS[f]) for f in IDENTITY_READERS}
        assert {s["Resource"] for _, s in secret_reads(deploy_template) if s["Sid"] == "ReadIdentitySecret"} == {
            SAMPLE_OUTPUTS["IdentitySecretArn"]
        }
    else:
        assert readers == set()


@pytest.mark.parametrize("stage", STAGES)
def test_given_a_turn_secret_only_the_functions_that_make_turn_credentials_may_read_it(templates, stage):
    template = templates[stage]
    policy = template["Resources"][TURN_POLICY]
    assert policy["Condition"] == "TurnSecretGiven"
    assert template["Conditions"]["TurnSecretGiven"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "TurnSecretArn"}, ""]}]}
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "ReadTurnSecret",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": {"Fn::Sub": "${TurnSecretArn}"},
        }
    ]
    readers = {function_role(template, FUNCTIONS[f]) for f in TURN_READERS}
    assert {role["Ref"] for role in policy["Properties"]["Roles"]} == readers == {"WebsocketMessageRole", "SweepRole"}
    assert [s for role, s in secret_reads(template) if role == TURN_POLICY] == policy["Properties"]["PolicyDocument"]["Statement"]


@pytest.mark.parametrize("stage", STAGES)
def test_turn_is_off_by_default_and_its_two_parameters_reach_every_function(templates, stage):
    template = templates[stage]
    assert template["Parameters"]["TurnUrls"]["Default"] == template["Parameters"]["TurnSecretArn"]["Default"] == ""
    for logical_id in FUNCTIONS.values():
        env = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
        assert env["TURN_URLS"] == {"Ref": "TurnUrls"} and env["TURN_SECRET_ARN"] == {"Ref": "TurnSecretArn"}
        assert "TURN_SECRET" not in env


def test_the_turn_secret_arn_parameter_admits_a_secrets_manager_arn_or_nothing(templates):
    pattern = re.compile(templates["prod"]["Parameters"]["TurnSecretArn"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch(SAMPLE_OUTPUTS["RedisAuthSecretArn"])
    assert not pattern.fullmatch("coturn-static-auth-secret")
    assert not pattern.fullmatch("arn:aws:s3:::bucket")


def test_logs_are_written_only_to_each_functions_own_log_group(deploy_templates):
    for template in deploy_templates.values():
        for role, statement in statements(template):
            if any(a.startswith("logs:") for a in statement["Action"]):
                assert re.fullmatch(
                    rf"arn:aws:logs:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:log-group:/aws/lambda/randomchat-(dev|prod)(-\w+)?:\*",
                    statement["Resource"],
                ), role


@pytest.mark.parametrize("stage", STAGES)
def test_the_page_is_pointed_at_this_stages_websocket_api(templates, deploy_templates, stage):
    wss = {"Fn::Sub": "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"}
    literal = f"wss://{SAMPLE_API_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api"
    for template, expected in ((templates[stage], wss), (deploy_templates[stage], literal)):
        env = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
        assert env["WEBSOCKET_URL"] == expected


@pytest.mark.parametrize("stage", STAGES)
def test_connect_admits_only_the_pages_own_origin(templates, deploy_templates, stage):
    page = {"Fn::Sub": "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    for template, expected in ((templates[stage], page), (deploy_templates[stage], SAMPLE_PAGE_ORIGIN)):
        for function, logical_id in FUNCTIONS.items():
            env = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
            assert env.get("ALLOWED_ORIGINS") == (expected if function == "websocket_connect" else None)


def test_prod_gets_the_cache_from_the_infra_stack_and_no_secret_in_its_environment(templates, deploy_templates):
    env = deploy_templates["prod"]["Resources"]["WebsocketMessage"]["Properties"]["Environment"]["Variables"]
    assert env["REDIS_URL"] == SAMPLE_OUTPUTS["RedisUrl"] and "@" not in env["REDIS_URL"]
    assert env["REDIS_CLUSTER"] == "false"
    assert env["REDIS_AUTH_SECRET_ARN"] == SAMPLE_OUTPUTS["RedisAuthSecretArn"]
    merged = templates["prod"]["Resources"]["WebsocketMessage"]["Properties"]["Environment"]["Variables"]
    assert merged["REDIS_AUTH_SECRET_ARN"] == {"Ref": "AuthTokenSecret"}
    assert merged["REDIS_URL"] == templates["prod"]["Outputs"]["RedisUrl"]["Value"]


def test_prod_memory_and_timeouts_are_the_chosen_ones(templates):
    props = {f: templates["prod"]["Resources"][logical]["Properties"] for f, logical in FUNCTIONS.items()}
    assert {f: (p["MemorySize"], p["Timeout"]) for f, p in props.items()} == {
        "api_handler": (256, 10),
        "websocket_connect": (512, 5),
        "websocket_message": (512, 10),
        "websocket_disconnect": (512, 10),
        "sweep": (256, 60),
    }


@pytest.mark.parametrize("stage", STAGES)
def test_log_groups_expire(templates, stage):
    groups = of_type(templates[stage], "AWS::Logs::LogGroup")
    functions_groups = {name for name in groups if name != "ApiAccessLogGroup"}  # prod's optional access logs
    assert len(functions_groups) == len(FUNCTIONS)
    assert all(g["Properties"]["RetentionInDays"] in (7, 30) for g in groups.values())
    assert templates[stage]["Resources"]["ApiHandlerLogGroup"]["Properties"]["LogGroupName"] == {
        "Fn::Sub": "/aws/lambda/${APIHandler}"
    }


def test_cfn_lint_passes_on_every_packaged_template(packaged):
    done = scanners.cfn_lint(*packaged.values())
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_printed_deploy_command_passes_a_bucket_for_templates_over_the_inline_limit(packaged):
    from deploy.__main__ import NEXT_STEPS

    assert packaged["prod"].stat().st_size > 51_200  # CloudFormation's TemplateBody limit
    deploy_step = NEXT_STEPS.split("aws cloudformation deploy", 1)[1]
    assert "--s3-bucket" in deploy_step


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_code_zip_carries_every_lua_script_and_web_file(packaged, stage):
    """The scripts and the page are files, not Python: Chalice must ship them with chalicelib/."""
    import zipfile

    from chalicelib import scripts, web

    with zipfile.ZipFile(packaged[stage].parent / "deployment.zip") as code:
        shipped = set(code.namelist())
    wanted = {f"chalicelib/scripts/lua/{path.name}" for path in scripts.LUA_DIR.glob("*.lua")}
    wanted |= {f"chalicelib/web/{path.name}" for path in web.WEB_DIR.iterdir() if path.is_file()}
    assert len(wanted) > 30 and wanted <= shipped, sorted(wanted - shipped)
