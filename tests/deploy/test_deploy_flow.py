"""``python -m deploy``: the two-pass first deploy, the infra feed, teardown, the page check.

Chalice and CloudFormation are replaced by recorders; what each ``chalice deploy`` would have
read (config, policy files) is captured from the generated project.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy import flow, workspace
from deploy.__main__ import main
from deploy.stages import FUNCTIONS, IDENTITY_READERS, STAGES, TURN_READERS, lambda_name

from .conftest import SAMPLE_ACCOUNT, SAMPLE_OUTPUTS, SAMPLE_REGION, SAMPLE_RELAY_OUTPUTS, copy_app

API_ID = "w5s0ck3t01"
REST_ID = "r3st4p1x01"
TURN_SECRET_ARN = f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat/turn-AbCdEf"
IDENTITY_SECRET_ARN = f"arn:aws:secretsmanager:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:secret:randomchat-dev/identity-GhIjKl"
TURN_ENV = {"TURN_URLS": "turns:turn.example.com:5349"}


class FakeChalice:
    """Records each run and writes .chalice/deployed/<stage>.json as chalice deploy would."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def __call__(self, project: Path, args: list[str], env: Any) -> None:
        command, stage = args[0], args[args.index("--stage") + 1]
        chalice_dir = project / ".chalice"
        config = json.loads((chalice_dir / "config.json").read_text())
        policies = {p.name: json.loads(p.read_text()) for p in chalice_dir.glob("policy-*.json")}
        self.runs.append({"command": command, "stage": stage, "config": config, "policies": policies, "env": env})
        deployed = chalice_dir / "deployed" / f"{stage}.json"
        if command == "deploy":
            deployed.write_text(
                json.dumps(
                    {
                        "resources": [
                            {
                                "name": "rest_api",
                                "resource_type": "rest_api",
                                "rest_api_id": REST_ID,
                                "rest_api_url": f"https://{REST_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api/",
                            },
                            {
                                "name": "websocket_api",
                                "resource_type": "websocket_api",
                                "websocket_api_id": API_ID,
                                "websocket_api_url": f"wss://{API_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api/",
                            },
                        ],
                        "schema_version": "2.0",
                        "backend": "api",
                    }
                )
            )
        elif command == "delete":
            deployed.unlink()

    def env_of(self, run: dict[str, Any]) -> dict[str, str]:
        return run["config"]["stages"][run["stage"]]["environment_variables"]

    def posting(self, run: dict[str, Any]) -> set[str]:
        return {
            resource
            for policy in run["policies"].values()
            for statement in policy["Statement"]
            if "execute-api:ManageConnections" in statement["Action"]
            for resource in statement["Resource"]
        }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return copy_app(tmp_path)


class FakeLogs:
    """CloudWatch Logs with a few log groups; a missing or duplicate one raises like the real client."""

    class exceptions:  # boto3 spells it this way: client.exceptions.ResourceNotFoundException
        class ResourceNotFoundException(Exception):
            pass

        class ResourceAlreadyExistsException(Exception):
            pass

    def __init__(self, names: set[str]) -> None:
        self.names = set(names)
        self.retention: dict[str, int] = {}

    def create_log_group(self, logGroupName: str) -> None:
        if logGroupName in self.names:
            raise self.exceptions.ResourceAlreadyExistsException(logGroupName)
        self.names.add(logGroupName)

    def put_retention_policy(self, logGroupName: str, retentionInDays: int) -> None:
        if logGroupName not in self.names:
            raise self.exceptions.ResourceNotFoundException(logGroupName)
        self.retention[logGroupName] = retentionInDays

    def delete_log_group(self, logGroupName: str) -> None:
        if logGroupName not in self.names:
            raise self.exceptions.ResourceNotFoundException(logGroupName)
        self.names.remove(logGroupName)


@pytest.fixture
def aws() -> flow.Aws:
    # The groups chalice deploy leaves: one per function, and one under the REST handler's module name.
    groups = {f"/aws/lambda/{lambda_name('randomchat', 'prod', f)}" for f in FUNCTIONS}
    groups |= {"/aws/lambda/randomchat-prod-api_handler", "/aws/lambda/someone-elses"}
    return flow.Aws(
        region=SAMPLE_REGION, account=SAMPLE_ACCOUNT, partition="aws", cloudformation=object(), logs=FakeLogs(groups)
    )


@pytest.fixture
def infra_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def deploy(cfn: Any, name: str, body: str, parameters: Any, tags: Any, log: Any) -> dict[str, str]:
        calls.append({"op": "deploy", "name": name, "body": body, "parameters": dict(parameters), "tags": dict(tags)})
        return dict(SAMPLE_RELAY_OUTPUTS if name.endswith("-relay") else SAMPLE_OUTPUTS)

    def delete(cfn: Any, name: str, log: Any) -> None:
        calls.append({"op": "delete", "name": name})

    monkeypatch.setattr(flow.infra, "deploy", deploy)
    monkeypatch.setattr(flow.infra, "delete", delete)
    return calls


def connect_env(run: dict[str, Any]) -> dict[str, str]:
    """The environment the $connect handler gets on top of the stage's."""
    functions = run["config"]["stages"][run["stage"]]["lambda_functions"]
    return functions["websocket_connect"].get("environment_variables", {})


def run_deploy(stage: str, root: Path, aws: flow.Aws, chalice: FakeChalice, lines: list[str], **kwargs: Any):
    config = json.loads((root / ".chalice" / "config.json").read_text())
    return flow.deploy(STAGES[stage], config, aws, run=chalice, check_page=False, log=lines.append, root=root, **kwargs)


def test_the_first_deploy_creates_the_api_then_points_the_page_and_the_permission_at_it(root, aws):
    chalice, lines = FakeChalice(), []
    run_deploy("dev", root, aws, chalice, lines, redis_url="redis://redis.example.net:6379/0")
    first, second = chalice.runs
    assert (first["command"], second["command"]) == ("deploy", "deploy")
    assert "WEBSOCKET_URL" not in chalice.env_of(first)
    assert chalice.posting(first) == set()  # no API yet: nobody may post anywhere
    assert chalice.env_of(second)["WEBSOCKET_URL"] == f"wss://{API_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api"
    assert chalice.posting(second) == {
        f"arn:aws:execute-api:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:{API_ID}/api/{method}/@connections/*"
        for method in ("POST", "DELETE")
    }
    assert chalice.env_of(second)["REDIS_URL"] == "redis://redis.example.net:6379/0"
    assert "ALLOWED_ORIGINS" not in connect_env(first)
    assert connect_env(second)["ALLOWED_ORIGINS"] == f"https://{REST_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com"
    assert f"Web page:      https://{REST_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api/" in lines
    assert f"WebSocket API: wss://{API_ID}.execute-api.{SAMPLE_REGION}.amazonaws.com/api" in lines


def test_later_deploys_run_chalice_once_with_everything_in_place(root, aws):
    chalice = FakeChalice()
    run_deploy("dev", root, aws, chalice, [], redis_url="redis://r:6379/0")
    run_deploy("dev", root, aws, chalice, [], redis_url="redis://r:6379/0")
    assert len(chalice.runs) == 3
    assert chalice.posting(chalice.runs[2]) == chalice.posting(chalice.runs[1]) != set()


def test_extra_environment_and_an_explicit_origin_list_reach_the_stage(root, aws):
    chalice = FakeChalice()
    run_deploy(
        "dev", root, aws, chalice, [], redis_url="redis://r:6379/0",
        allowed_origins="", extra_env={"TURN_URLS": "turns:turn.example.com:5349"},
    )  # fmt: skip
    last = chalice.runs[-1]
    assert chalice.env_of(last)["TURN_URLS"] == "turns:turn.example.com:5349"
    assert "ALLOWED_ORIGINS" not in connect_env(last)  # "" admits any origin


def test_the_deploy_runs_chalice_in_its_own_project_and_records_state_in_the_repository(root, aws):
    chalice = FakeChalice()
    run_deploy("dev", root, aws, chalice, [], redis_url="redis://r:6379/0")
    assert (root / ".chalice" / "deployed" / "dev.json").exists()
    assert json.loads((root / ".chalice" / "config.json").read_text()) == json.loads(
        (flow.ROOT / ".chalice" / "config.json").read_text()
    )  # the tracked config is never edited
    assert chalice.runs[0]["env"]["AWS_DEFAULT_REGION"] == SAMPLE_REGION


def test_prod_deploys_the_infra_stack_first_and_feeds_its_outputs_to_the_stage(root, aws, infra_calls):
    chalice = FakeChalice()
    run_deploy("prod", root, aws, chalice, [], parameters={"CacheNodeType": "cache.r7g.large"})
    call, alarms = infra_calls
    assert call["name"] == alarms["name"] == "randomchat-prod-infra"
    assert call["body"] == (root / "infra" / "stack.yaml").read_text()
    names = {"FunctionPrefix": "randomchat-prod", "ApiStage": "api", "RestApiName": "randomchat"}
    assert call["parameters"] == {"CacheNodeType": "cache.r7g.large", **names}
    # The first deploy learns the WebSocket API's id after the infra stack: a second update points
    # the alarms and the dashboard at it (CacheNodeType keeps its value: not given, so previous).
    assert alarms["parameters"] == {**names, "WebSocketApiId": API_ID}
    stage = chalice.runs[-1]["config"]["stages"]["prod"]
    assert stage["subnet_ids"] == SAMPLE_OUTPUTS["PrivateSubnetIds"].split(",")
    assert stage["security_group_ids"] == [SAMPLE_OUTPUTS["LambdaSecurityGroupId"]]
    env = stage["environment_variables"]
    assert env["REDIS_URL"] == SAMPLE_OUTPUTS["RedisUrl"]
    assert env["REDIS_AUTH_SECRET_ARN"] == SAMPLE_OUTPUTS["RedisAuthSecretArn"]
    assert env["REDIS_CLUSTER"] == "false"
    assert env["IDENTITY_SECRET_ARN"] == SAMPLE_OUTPUTS["IdentitySecretArn"]
    reads = {
        s["Resource"]
        for p in chalice.runs[-1]["policies"].values()
        for s in p["Statement"]
        if s["Action"] == ["secretsmanager:GetSecretValue"]
    }
    assert reads == {SAMPLE_OUTPUTS["RedisAuthSecretArn"], SAMPLE_OUTPUTS["IdentitySecretArn"]}
    assert secret_readers(chalice.runs[-1], SAMPLE_OUTPUTS["IdentitySecretArn"]) == set(IDENTITY_READERS)


def secret_readers(run: dict[str, Any], arn: str) -> set[str]:
    """The functions whose policy lets them read the secret ``arn``, and nothing more of it."""
    readers = set()
    for function in FUNCTIONS:
        for statement in run["policies"][f"policy-{run['stage']}-{function}.json"]["Statement"]:
            if statement["Resource"] == arn:
                assert statement["Action"] == ["secretsmanager:GetSecretValue"] and statement["Effect"] == "Allow"
                readers.add(function)
    return readers


def test_dev_gets_an_identity_secret_arn_that_only_connect_may_read(root, aws):
    chalice, lines = FakeChalice(), []
    run_deploy("dev", root, aws, chalice, lines, redis_url="redis://r:6379/0", identity_secret_arn=IDENTITY_SECRET_ARN)
    for run in chalice.runs:
        assert chalice.env_of(run)["IDENTITY_SECRET_ARN"] == IDENTITY_SECRET_ARN
        assert secret_readers(run, IDENTITY_SECRET_ARN) == set(IDENTITY_READERS) == {"websocket_connect"}
    assert not any("no identity secret" in line for line in lines)


def test_dev_without_an_identity_secret_says_every_connection_is_its_own_device(root, aws):
    chalice, lines = FakeChalice(), []
    run_deploy("dev", root, aws, chalice, lines, redis_url="redis://r:6379/0")
    assert "IDENTITY_SECRET_ARN" not in chalice.env_of(chalice.runs[-1])
    assert any("no identity secret, so every connection is its own device" in line for line in lines)


@pytest.mark.parametrize(
    ("stage", "identity_secret_arn", "extra_env", "message"),
    [
        ("dev", "not-an-arn", {}, "must be the ARN of a Secrets Manager secret"),
        ("dev", IDENTITY_SECRET_ARN, {"IDENTITY_SECRET": "k" * 40}, "replaces IDENTITY_SECRET"),
        ("dev", "", {"IDENTITY_SECRET_ARN": IDENTITY_SECRET_ARN}, "as --identity-secret-arn, which also lets"),
        ("prod", IDENTITY_SECRET_ARN, {}, "from its infra stack: drop --identity-secret-arn"),
        ("prod", "", {"IDENTITY_SECRET": "k" * 40}, "from its infra stack: drop IDENTITY_SECRET"),
    ],
    ids=["not-an-arn", "both-secrets", "arn-without-permission", "prod-arn", "prod-plain-secret"],
)
def test_an_identity_secret_the_functions_would_reject_is_refused_before_anything_is_deployed(
    root, aws, infra_calls, stage, identity_secret_arn, extra_env, message
):
    chalice = FakeChalice()
    with pytest.raises(SystemExit, match=message):
        run_deploy(stage, root, aws, chalice, [], redis_url="redis://r:6379/0",
                   identity_secret_arn=identity_secret_arn, extra_env=extra_env)  # fmt: skip
    assert chalice.runs == [] and infra_calls == []


def turn_secret_readers(run: dict[str, Any]) -> set[str]:
    """The functions whose policy lets them read the TURN secret, and nothing more of it."""
    readers = set()
    for function in FUNCTIONS:
        for statement in run["policies"][f"policy-{run['stage']}-{function}.json"]["Statement"]:
            if statement["Resource"] == TURN_SECRET_ARN:
                assert statement["Action"] == ["secretsmanager:GetSecretValue"] and statement["Effect"] == "Allow"
                readers.add(function)
    return readers


@pytest.mark.parametrize("stage", STAGES)
def test_a_turn_secret_arn_reaches_the_stage_and_only_the_functions_that_make_credentials_may_read_it(
    root, aws, infra_calls, stage
):
    chalice = FakeChalice()
    run_deploy(
        stage, root, aws, chalice, [], redis_url="redis://r:6379/0", turn_secret_arn=TURN_SECRET_ARN, extra_env=TURN_ENV
    )
    for run in chalice.runs:
        env = chalice.env_of(run)
        assert env["TURN_SECRET_ARN"] == TURN_SECRET_ARN and env["TURN_URLS"] == TURN_ENV["TURN_URLS"]
        assert "TURN_SECRET" not in env
        assert turn_secret_readers(run) == set(TURN_READERS) == {"websocket_message", "sweep"}


def test_without_a_turn_secret_arn_no_function_may_read_one(root, aws):
    chalice = FakeChalice()
    run_deploy("dev", root, aws, chalice, [], redis_url="redis://r:6379/0", extra_env=TURN_ENV)
    assert "TURN_SECRET_ARN" not in chalice.env_of(chalice.runs[-1])
    assert not any(
        statement["Action"] == ["secretsmanager:GetSecretValue"]
        for policy in chalice.runs[-1]["policies"].values()
        for statement in policy["Statement"]
    )


@pytest.mark.parametrize(
    ("turn_secret_arn", "extra_env", "message"),
    [
        ("coturn-static-auth-secret", TURN_ENV, "must be the ARN of a Secrets Manager secret"),
        (TURN_SECRET_ARN, {}, "needs the TURN server's URLs"),
        (TURN_SECRET_ARN, {**TURN_ENV, "TURN_SECRET": "coturn-static-auth-secret"}, "replaces TURN_SECRET"),
        ("", {**TURN_ENV, "TURN_SECRET_ARN": TURN_SECRET_ARN}, "as --turn-secret-arn, which also lets"),
    ],
    ids=["not-an-arn", "no-turn-urls", "both-secrets", "arn-without-permission"],
)
def test_a_turn_setup_the_functions_would_reject_is_refused_before_anything_is_deployed(
    root, aws, infra_calls, turn_secret_arn, extra_env, message
):
    chalice = FakeChalice()
    with pytest.raises(SystemExit, match=message):
        run_deploy("prod", root, aws, chalice, [], turn_secret_arn=turn_secret_arn, extra_env=extra_env)
    assert chalice.runs == [] and infra_calls == []


def test_the_cli_hands_the_turn_secret_arn_to_the_deploy(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(flow, "connect", lambda region, profile: None)
    monkeypatch.setattr(flow, "deploy", lambda *args, **kwargs: calls.append(kwargs))
    main(["deploy", "--stage", "dev", "--turn-secret-arn", TURN_SECRET_ARN, "--env", "TURN_URLS=turns:t:5349"])
    (call,) = calls
    assert call["turn_secret_arn"] == TURN_SECRET_ARN and call["extra_env"] == {"TURN_URLS": "turns:t:5349"}


def test_the_cli_hands_the_identity_secret_arn_to_the_deploy(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(flow, "connect", lambda region, profile: None)
    monkeypatch.setattr(flow, "deploy", lambda *args, **kwargs: calls.append(kwargs))
    main(["deploy", "--stage", "dev", "--identity-secret-arn", IDENTITY_SECRET_ARN])
    (call,) = calls
    assert call["identity_secret_arn"] == IDENTITY_SECRET_ARN


@pytest.mark.parametrize("stage", STAGES)
def test_relay_deploys_the_relay_stack_and_points_the_stage_at_it(root, aws, infra_calls, stage):
    chalice = FakeChalice()
    run_deploy(stage, root, aws, chalice, [], redis_url="redis://r:6379/0", relay=True,
               relay_parameters={"InstanceType": "t4g.medium"})
    relay = infra_calls[0]
    assert relay["name"] == f"randomchat-{stage}-relay"
    assert relay["body"] == (root / "infra" / "relay.yaml").read_text()
    assert relay["parameters"] == {"InstanceType": "t4g.medium"}
    for run in chalice.runs:
        env = chalice.env_of(run)
        assert env["TURN_URLS"] == SAMPLE_RELAY_OUTPUTS["TurnUrls"]
        assert env["TURN_SECRET_ARN"] == SAMPLE_RELAY_OUTPUTS["TurnSecretArn"] and "TURN_SECRET" not in env
        readers = {
            function
            for function in FUNCTIONS
            for statement in run["policies"][f"policy-{stage}-{function}.json"]["Statement"]
            if statement["Resource"] == SAMPLE_RELAY_OUTPUTS["TurnSecretArn"]
        }
        assert readers == set(TURN_READERS)


@pytest.mark.parametrize(
    "given",
    [{"turn_secret_arn": TURN_SECRET_ARN, "extra_env": TURN_ENV}, {"extra_env": TURN_ENV}, {"relay_parameters": {"A": "b"}}],
)
def test_relay_refuses_a_turn_setup_of_ones_own_and_relay_params_need_relay(root, aws, infra_calls, given):
    relay = "relay_parameters" not in given
    with pytest.raises(SystemExit, match="--relay"):
        run_deploy("dev", root, aws, FakeChalice(), [], redis_url="redis://r:6379/0", relay=relay, **given)
    assert infra_calls == []  # refused before anything was deployed


def test_the_cli_hands_relay_and_its_parameters_to_the_deploy(monkeypatch):
    seen: dict[str, Any] = {}
    monkeypatch.setattr(flow, "connect", lambda region, profile: None)
    monkeypatch.setattr(flow, "deploy", lambda plan, config, aws, **kwargs: seen.update(kwargs))
    main(["deploy", "--stage", "prod", "--relay", "--relay-param", "MinPort=50000", "--relay-param", "MaxPort=50999"])
    assert seen["relay"] is True and seen["relay_parameters"] == {"MinPort": "50000", "MaxPort": "50999"}


def test_a_stage_outside_the_vpc_needs_a_redis_url(root, aws):
    with pytest.raises(SystemExit, match="--redis-url"):
        run_deploy("dev", root, aws, FakeChalice(), [])


def test_a_stage_without_a_policy_file_for_a_function_is_refused(aws, root):
    config = json.loads((root / ".chalice" / "config.json").read_text())
    del config["stages"]["dev"]["lambda_functions"]["sweep"]["iam_policy_file"]
    with pytest.raises(SystemExit, match="iam_policy_file for 'sweep'"):
        workspace.policy_files(config, "dev")
    config["stages"]["dev"]["autogen_policy"] = True
    with pytest.raises(SystemExit, match="autogen_policy"):
        workspace.policy_files(config, "dev")


def test_later_prod_deploys_give_the_infra_stack_the_websocket_api_id_at_once(root, aws, infra_calls):
    chalice = FakeChalice()
    run_deploy("prod", root, aws, chalice, [])
    infra_calls.clear()
    run_deploy("prod", root, aws, chalice, [])
    (call,) = infra_calls
    assert call["parameters"]["WebSocketApiId"] == API_ID


def test_teardown_deletes_nothing_unless_the_stage_name_is_typed(root, aws, infra_calls):
    chalice, lines = FakeChalice(), []
    run_deploy("prod", root, aws, chalice, [])
    config = json.loads((root / ".chalice" / "config.json").read_text())
    done = flow.teardown(STAGES["prod"], config, aws, ask=lambda _: "yes", run=chalice, log=lines.append, root=root)
    assert done is False and len(chalice.runs) == 2 and [c["op"] for c in infra_calls] == ["deploy", "deploy"]
    warning = "\n".join(lines)
    assert "ElastiCache replication group with all its state" in warning and "randomchat-prod-infra" in warning


def test_teardown_deletes_the_app_then_the_relay_and_the_infra_stack(root, aws, infra_calls):
    chalice = FakeChalice()
    run_deploy("prod", root, aws, chalice, [])
    config = json.loads((root / ".chalice" / "config.json").read_text())
    assert flow.teardown(STAGES["prod"], config, aws, ask=lambda _: "prod", run=chalice, log=lambda _: None, root=root)
    assert chalice.runs[-1]["command"] == "delete"
    # The relay stack goes too (infra.delete says so when there is none): it would cost on its own.
    assert [(c["op"], c["name"]) for c in infra_calls[2:]] == [
        ("delete", "randomchat-prod-relay"), ("delete", "randomchat-prod-infra")
    ]
    assert aws.logs.names == {"/aws/lambda/someone-elses"}
    assert not (root / ".chalice" / "deployed" / "prod.json").exists()


def test_teardown_without_a_terminal_refuses_unless_told_yes(root, aws, infra_calls):
    def no_terminal(_: str) -> str:
        raise EOFError

    config = json.loads((root / ".chalice" / "config.json").read_text())
    assert not flow.teardown(
        STAGES["prod"], config, aws, ask=no_terminal, run=FakeChalice(), log=lambda _: None, root=root
    )
    assert flow.teardown(STAGES["prod"], config, aws, yes=True, run=FakeChalice(), log=lambda _: None, root=root)
    assert [c["op"] for c in infra_calls] == ["delete", "delete"]  # the relay stack, then the infra stack


def test_the_cli_refuses_an_unknown_stage_and_a_malformed_parameter(capsys):
    with pytest.raises(SystemExit):
        main(["deploy", "--stage", "staging"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        main(["deploy", "--stage", "prod", "--param", "CacheNodeType"])


class ConfigServer:
    """A loopback stand-in for the deployed REST API's /config."""

    def __init__(self, websocket_url: str) -> None:
        body = json.dumps({"websocket_url": websocket_url}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path == "/api/config" else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("served", "ok"), [("wss://abc.example/api", True), ("wss://other.example/api", False)])
def test_the_deploy_checks_that_the_page_connects_to_the_new_websocket_api(served, ok):
    server = ConfigServer(served)
    lines: list[str] = []
    try:
        urls = flow.Deployed(rest_api_url=server.url, websocket_api_url="wss://abc.example/api/")
        assert flow.verify_page(urls, lines.append, attempts=1) is ok
    finally:
        server.close()
    assert ("Checked" in lines[-1]) is ok


def test_the_committed_config_names_no_account_resource_and_never_autogenerates_policies():
    text = (flow.ROOT / ".chalice" / "config.json").read_text()
    for account_specific in ("subnet_ids", "security_group_ids", "REDIS_URL", "WEBSOCKET_URL", "arn:", "iam_role_arn"):
        assert account_specific not in text
    config = json.loads(text)
    for name in STAGES:
        assert set(workspace.policy_files(config, name)) == set(FUNCTIONS)
        stage = config["stages"][name]
        assert stage["api_gateway_stage"] == "api"
        # A reservation can leave a new account below its minimum unreserved concurrency and fail
        # the deploy; the sweep's Redis lock is what keeps it single.
        assert not any("reserved_concurrency" in f for f in stage["lambda_functions"].values())
        assert "reserved_concurrency" not in stage


def test_the_deploy_makes_the_rest_handlers_log_group_with_the_stages_retention(root, aws):
    # chalice deploy names the REST handler randomchat-dev but makes its log group as
    # .../randomchat-dev-api_handler: without this the real one would have no retention.
    run_deploy("dev", root, aws, FakeChalice(), [], redis_url="redis://r:6379/0")
    assert aws.logs.retention["/aws/lambda/randomchat-dev"] == 7
    run_deploy("dev", root, aws, FakeChalice(), [], redis_url="redis://r:6379/0")  # already there: no error
    assert aws.logs.retention["/aws/lambda/randomchat-dev"] == 7


@pytest.mark.parametrize("version", [(3, 12, 1), (3, 10, 4)])
def test_a_python_other_than_the_pinned_runtime_is_refused_before_anything_is_built(version):
    with pytest.raises(SystemExit, match=r"pinned to python3\.11 .* virtualenv"):
        flow.check_runtime(version)
    flow.check_runtime((3, 11, 9))


def test_chalice_runs_with_the_marker_that_tells_app_py_it_is_a_generated_project(monkeypatch, tmp_path):
    seen: list[dict[str, str]] = []
    monkeypatch.setattr(flow.subprocess, "run", lambda command, check, env: seen.append(env))
    flow.run_chalice(tmp_path, ["package", "--stage", "dev", "out"], {"PATH": "/bin"})
    assert seen == [{"PATH": "/bin", flow.GENERATED_PROJECT_ENV: str(tmp_path)}]


def test_no_deploy_file_points_to_a_guide_that_does_not_exist():
    cited = set()
    infra_dir = flow.ROOT / "infra"
    for path in [*flow.ROOT.joinpath("deploy").glob("*.py"), *infra_dir.glob("*.yaml"), flow.ROOT / "Makefile"]:
        cited |= {(path.name, guide) for guide in re.findall(r"\b[\w/]+\.md\b", path.read_text())}
    missing = {(name, guide) for name, guide in cited if not (flow.ROOT / guide).exists()}
    assert missing == set()
