"""Deploy, package and tear down a stage, step by step.

``chalice deploy`` creates the WebSocket API, but the functions need its id twice: in
``WEBSOCKET_URL`` (the page asks ``/config`` where to connect) and in the one ARN they may post
to; and ``$connect`` should admit only the page's origin, the REST API's host. So the first
deploy of a stage runs Chalice twice: once to create the APIs with senders that may not post yet,
then again with the URL, the origin and the scoped permission. Every later deploy finds the ids
in ``.chalice/deployed/<stage>.json`` and runs Chalice once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import infra, merged, policies, workspace
from .stages import (
    FUNCTIONS,
    INFRA_TEMPLATE,
    LAMBDA_RUNTIME,
    RELAY_TEMPLATE,
    ROOT,
    Stage,
    api_stage,
    lambda_name,
    runtime_of,
)
from .workspace import StageValues

Log = Callable[[str], None]
Runner = Callable[[Path, list[str], Mapping[str, str]], None]


@dataclass(frozen=True)
class Aws:
    """Where the deploy goes (region, account, partition) and the AWS clients it uses."""

    region: str
    account: str
    partition: str
    cloudformation: Any
    logs: Any = None
    profile: str | None = None

    def chalice_env(self) -> dict[str, str]:
        env = dict(os.environ, AWS_DEFAULT_REGION=self.region, AWS_REGION=self.region)
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        return env


def connect(region: str | None, profile: str | None) -> Aws:
    """Open a boto3 session and learn the account from STS (every ARN in the policies needs it)."""
    import boto3

    session = boto3.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise SystemExit("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    identity = session.client("sts").get_caller_identity()
    return Aws(
        region=session.region_name,
        account=identity["Account"],
        partition=identity["Arn"].split(":")[1],
        cloudformation=session.client("cloudformation"),
        logs=session.client("logs"),
        profile=profile,
    )


# Set for the Chalice CLI when it runs on a project this deploy generated. Plain `chalice deploy`,
# `chalice package` or `chalice local` in the repository lack what the deploy fills in (REDIS_URL,
# the VPC, the API id, the policy files); app.py can tell them apart by this variable.
GENERATED_PROJECT_ENV = "RANDOMCHAT_GENERATED_PROJECT"


def run_chalice(project: Path, args: list[str], env: Mapping[str, str]) -> None:
    """Run the Chalice CLI of this interpreter on ``project``."""
    command = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]
    env = {**env, GENERATED_PROJECT_ENV: str(project)}
    subprocess.run([*command, "--project-dir", str(project), *args], check=True, env=env)


def check_runtime(version: tuple[int, ...] = tuple(sys.version_info)) -> None:
    """Refuse to build under a Python other than the pinned runtime's (see ``LAMBDA_RUNTIME``)."""
    if runtime_of(version) != LAMBDA_RUNTIME:
        wanted = LAMBDA_RUNTIME.removeprefix("python")
        raise SystemExit(
            f"the Lambda runtime is pinned to {LAMBDA_RUNTIME} (deploy/stages.py) but this is Python "
            f"{version[0]}.{version[1]}, and Chalice packages wheels for the Python that runs it: "
            f"run the deploy from a Python {wanted} virtualenv (make clean venv PYTHON=python{wanted})"
        )


@dataclass(frozen=True)
class Deployed:
    """What ``.chalice/deployed/<stage>.json`` says Chalice created."""

    rest_api_url: str = ""
    websocket_api_id: str = ""
    websocket_api_url: str = ""

    @property
    def websocket_url(self) -> str:
        """The URL the page connects to (Chalice records it with a trailing slash)."""
        return self.websocket_api_url.rstrip("/")

    @property
    def page_origin(self) -> str:
        """The Origin browsers send from the page: scheme and host of the REST API."""
        parts = urllib.parse.urlsplit(self.rest_api_url)
        return f"{parts.scheme}://{parts.netloc}"


def deployed(stage_name: str, root: Path = ROOT) -> Deployed:
    path = root / ".chalice" / "deployed" / f"{stage_name}.json"
    if not path.exists():
        return Deployed()
    found: dict[str, str] = {}
    for resource in json.loads(path.read_text()).get("resources", []):
        for key in ("rest_api_url", "websocket_api_id", "websocket_api_url"):
            if key in resource:
                found[key] = resource[key]
    return Deployed(**found)


def build_dir(root: Path) -> Path:
    """Where generated Chalice projects live (git-ignored)."""
    return root / "deploy" / "build"


def package_cache(root: Path) -> Path:
    """Chalice's deployment zips, shared by every generated project of this checkout."""
    return build_dir(root) / "deployments-cache"


def _literal(aws: Aws, values: StageValues, api_id: str) -> policies.Literal:
    return policies.Literal(
        {
            "AWS::Partition": aws.partition,
            "AWS::Region": aws.region,
            "AWS::AccountId": aws.account,
            "WebsocketAPI": api_id,
            "AuthTokenSecret": values.auth_secret_arn,
            "TurnSecretArn": values.turn_secret_arn,
            "IdentitySecret": values.identity_secret_arn,
        }
    )


def chalice_deploy(
    plan: Stage, config: Mapping[str, Any], values: StageValues, aws: Aws, api_id: str, run: Runner, root: Path
) -> None:
    scope = workspace.scope_for(config, plan, values, may_post=bool(api_id))
    project = workspace.build(
        build_dir(root) / plan.name,
        config,
        plan,
        values,
        scope,
        _literal(aws, values, api_id),
        root=root,
        package_cache=package_cache(root),
    )
    run(project, ["deploy", "--stage", plan.name], aws.chalice_env())


def deploy(
    plan: Stage,
    config: Mapping[str, Any],
    aws: Aws,
    *,
    redis_url: str = "",
    redis_cluster: bool = False,
    auth_secret_arn: str = "",
    turn_secret_arn: str = "",
    identity_secret_arn: str = "",
    parameters: Mapping[str, str] | None = None,
    allowed_origins: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    relay: bool = False,
    relay_parameters: Mapping[str, str] | None = None,
    run: Runner = run_chalice,
    check_page: bool = True,
    log: Log = print,
    root: Path = ROOT,
) -> Deployed:
    """Deploy or update ``plan``: its infra stack if any, then the Chalice app; return the URLs.

    ``allowed_origins`` (comma-separated) replaces the default, the page's own origin, for the
    Origin check at $connect; "" admits any origin. ``extra_env`` adds environment variables.
    ``turn_secret_arn`` sets ``TURN_SECRET_ARN`` and lets the functions that make TURN
    credentials read that secret. ``relay`` creates or updates the stage's coturn relay
    (``infra/relay.yaml``, with ``relay_parameters``) and sets both from its outputs instead.
    ``identity_secret_arn`` (stages outside the VPC; a VPC stage's infra stack makes its own) sets
    ``IDENTITY_SECRET_ARN`` and lets ``$connect`` read that secret.
    """
    check_runtime()
    if relay:
        extra_env, turn_secret_arn = deploy_relay(
            plan, config, aws, root, relay_parameters or {}, extra_env or {}, turn_secret_arn, log
        )
    elif relay_parameters:
        raise SystemExit("--relay-param applies with --relay only")
    check_turn(config, plan, turn_secret_arn, extra_env or {})
    check_identity(config, plan, identity_secret_arn, extra_env or {}, log)
    app_name = config["app_name"]
    if plan.in_vpc:
        outputs = deploy_infra(plan, config, aws, root, {**watched(plan, config, root), **(parameters or {})}, log)
        values = infra.stage_values(outputs)
    else:
        if parameters:
            raise SystemExit(f"stage {plan.name} has no infra stack; --param applies to VPC stages only")
        if not redis_url:
            raise SystemExit(
                f"stage {plan.name} runs outside any VPC: pass --redis-url (or set REDIS_URL) to a Redis "
                "its Lambdas can reach from the internet, e.g. rediss://:token@host:6379/0"
            )
        values = StageValues(
            redis_url=redis_url,
            redis_cluster=redis_cluster,
            auth_secret_arn=auth_secret_arn,
            identity_secret_arn=identity_secret_arn,
        )
    values = replace(values, extra=dict(extra_env or {}), turn_secret_arn=turn_secret_arn)

    retention = workspace.setting(config, plan.name, "log_retention_in_days")
    if retention:
        rest_handler_log_group(aws, lambda_name(app_name, plan.name, "api_handler"), int(retention), log)

    current = deployed(plan.name, root)
    known_api = current.websocket_api_id
    if not current.websocket_api_id:
        log(f"==> chalice deploy --stage {plan.name} (first deploy, pass 1 of 2: create the APIs)")
        chalice_deploy(plan, config, values, aws, "", run, root)
        current = deployed(plan.name, root)
        if not current.websocket_api_id:
            raise SystemExit(f".chalice/deployed/{plan.name}.json records no WebSocket API after chalice deploy")
        log(
            f"==> chalice deploy --stage {plan.name} (pass 2 of 2: WEBSOCKET_URL, ALLOWED_ORIGINS, posting to this API)"
        )
    else:
        log(f"==> chalice deploy --stage {plan.name}")
    origins = current.page_origin if allowed_origins is None else allowed_origins
    values = replace(values, websocket_url=current.websocket_url, allowed_origins=origins)
    chalice_deploy(plan, config, values, aws, current.websocket_api_id, run, root)
    current = deployed(plan.name, root)
    if plan.in_vpc and current.websocket_api_id != known_api:
        # The infra stack went up before the API existed: point its alarms and dashboard at it.
        log("==> infra stack: alarms and dashboard for the new WebSocket API")
        deploy_infra(plan, config, aws, root, watched(plan, config, root), log)

    log("")
    log(f"Web page:      {current.rest_api_url}")
    log(f"WebSocket API: {current.websocket_url}")
    if check_page:
        verify_page(current, log)
    return current


def watched(plan: Stage, config: Mapping[str, Any], root: Path) -> dict[str, str]:
    """The infra stack's monitoring parameters: the app's names, and the WebSocket API's id once
    Chalice has created it (the first deploy learns it only after the infra stack is up)."""
    found = {
        "FunctionPrefix": lambda_name(config["app_name"], plan.name, "api_handler"),
        "ApiStage": api_stage(dict(config), plan.name),
        "RestApiName": config["app_name"],
    }
    api_id = deployed(plan.name, root).websocket_api_id
    if api_id:
        found["WebSocketApiId"] = api_id
    return found


def deploy_infra(
    plan: Stage, config: Mapping[str, Any], aws: Aws, root: Path, parameters: Mapping[str, str], log: Log
) -> dict[str, str]:
    """Create or update the stage's infra stack; parameters not given keep their previous values."""
    app_name = config["app_name"]
    return _deploy_stack(plan, app_name, aws, plan.infra_stack_name(app_name), root / INFRA_TEMPLATE.relative_to(ROOT),
                         parameters, log)


def _deploy_stack(
    plan: Stage, app_name: str, aws: Aws, stack: str, template: Path, parameters: Mapping[str, str], log: Log
) -> dict[str, str]:
    """Create or update one of the stage's own stacks, tagged with the app and the stage."""
    return infra.deploy(aws.cloudformation, stack, template.read_text(), parameters,
                        tags={"app": app_name, "stage": plan.name}, log=log)


def deploy_relay(
    plan: Stage,
    config: Mapping[str, Any],
    aws: Aws,
    root: Path,
    parameters: Mapping[str, str],
    extra_env: Mapping[str, str],
    turn_secret_arn: str,
    log: Log,
) -> tuple[dict[str, str], str]:
    """Create or update the stage's relay stack; return the environment with its TURN_URLS, and
    its secret's ARN for TURN_SECRET_ARN. A TURN setup of one's own as well would be ambiguous."""
    env = workspace.environment(config, plan.name, StageValues(extra=extra_env))
    if turn_secret_arn or env.get("TURN_URLS") or env.get("TURN_SECRET"):
        raise SystemExit("--relay sets TURN_URLS and TURN_SECRET_ARN itself: drop --turn-secret-arn and TURN_*")
    app_name = config["app_name"]
    outputs = _deploy_stack(plan, app_name, aws, plan.relay_stack_name(app_name),
                            root / RELAY_TEMPLATE.relative_to(ROOT), parameters, log)
    missing = [name for name in infra.RELAY_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SystemExit(f"the relay stack has no output {', '.join(missing)}; is it up to date?")
    log(f"    relay: {outputs[infra.OUT_TURN_URLS]} (the instance installs coturn in its first minutes)")
    return {**extra_env, "TURN_URLS": outputs[infra.OUT_TURN_URLS]}, outputs[infra.OUT_TURN_SECRET]


def check_turn(config: Mapping[str, Any], plan: Stage, arn: str, extra_env: Mapping[str, str]) -> None:
    """Refuse, before anything is deployed, a TURN setup the functions would reject at cold start
    (chalicelib/config.py) or IAM would reject as a policy resource, or one whose secret the
    functions may not read."""
    env = workspace.environment(config, plan.name, StageValues(extra=extra_env))
    if env.get("TURN_SECRET_ARN"):
        raise SystemExit("pass TURN_SECRET_ARN as --turn-secret-arn, which also lets the functions read the secret")
    if not arn:
        return
    if not re.fullmatch(policies.SECRET_ARN_PATTERN, arn):
        raise SystemExit(f"--turn-secret-arn must be the ARN of a Secrets Manager secret, got {arn!r}")
    if env.get("TURN_SECRET"):
        raise SystemExit("--turn-secret-arn replaces TURN_SECRET: drop TURN_SECRET from the environment")
    if not env.get("TURN_URLS"):
        raise SystemExit("--turn-secret-arn needs the TURN server's URLs: --env TURN_URLS=turns:turn.example.com:5349")


def check_identity(
    config: Mapping[str, Any], plan: Stage, arn: str, extra_env: Mapping[str, str], log: Log = print
) -> None:
    """Refuse an identity secret the functions would reject at cold start (both IDENTITY_SECRET
    and IDENTITY_SECRET_ARN) or could not read (an ARN in --env gets no grant); say so when a stage
    outside the VPC gets none, since then every connection is its own device."""
    env = workspace.environment(config, plan.name, StageValues(extra=extra_env))
    if env.get("IDENTITY_SECRET_ARN"):
        raise SystemExit("pass IDENTITY_SECRET_ARN as --identity-secret-arn, which also lets $connect read the secret")
    if plan.in_vpc:
        given = "--identity-secret-arn" if arn else "IDENTITY_SECRET" if env.get("IDENTITY_SECRET") else ""
        if given:
            raise SystemExit(f"stage {plan.name} gets its identity secret from its infra stack: drop {given}")
        return
    if arn and not re.fullmatch(policies.SECRET_ARN_PATTERN, arn):
        raise SystemExit(f"--identity-secret-arn must be the ARN of a Secrets Manager secret, got {arn!r}")
    if arn and env.get("IDENTITY_SECRET"):
        raise SystemExit("--identity-secret-arn replaces IDENTITY_SECRET: drop IDENTITY_SECRET from the environment")
    if not arn and not env.get("IDENTITY_SECRET"):
        log(
            f"warning: stage {plan.name} has no identity secret, so every connection is its own device (no "
            "lasting bans, reports or no-repeat); pass --identity-secret-arn (docs/deploy.md)"
        )


def verify_page(urls: Deployed, log: Log = print, attempts: int = 10, delay: float = 3.0) -> bool:
    """Ask the deployed page's /config where it will connect, and compare."""
    url = urls.rest_api_url.rstrip("/") + "/config"
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # an https URL we just deployed
                served = json.load(response).get("websocket_url")
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            if attempt == attempts - 1:
                log(f"warning: could not read {url}: {exc}")
                return False
            time.sleep(delay)
            continue
        if served == urls.websocket_url:
            log(f"Checked: {url} sends the page to {served}")
            return True
        log(f"warning: {url} says websocket_url={served!r}, expected {urls.websocket_url!r}")
        return False
    return False


TEARDOWN_WARNING = """\
This deletes stage {stage} of {app} in {region} (account {account}):
  * the Lambda functions {app}-{stage}-*, their IAM roles and their log groups, the REST API
    (the web page), the WebSocket API and the one-minute schedule;
{infra}  * CloudFormation stack {relay}, if it exists: the TURN relay, its VPC, Elastic IP and secret;
Everyone connected is cut off. Nothing can be restored afterwards.
"""

INFRA_WARNING = """\
  * CloudFormation stack {stack}: the VPC, subnets, NAT gateway(s) and their Elastic IPs, the
    security groups, the ElastiCache replication group with all its state, and the AUTH token
    and identity secrets in Secrets Manager (every browser's device identity becomes invalid);
"""


def teardown(
    plan: Stage,
    config: Mapping[str, Any],
    aws: Aws,
    *,
    yes: bool = False,
    ask: Callable[[str], str] = input,
    run: Runner = run_chalice,
    log: Log = print,
    root: Path = ROOT,
) -> bool:
    """Delete the stage's app and infra after a warning and a typed confirmation."""
    app_name = config["app_name"]
    stack = plan.infra_stack_name(app_name)
    log(
        TEARDOWN_WARNING.format(
            stage=plan.name,
            app=app_name,
            region=aws.region,
            account=aws.account,
            infra=INFRA_WARNING.format(stack=stack) if plan.in_vpc else "",
            relay=plan.relay_stack_name(app_name),
        )
    )
    if not yes:
        try:
            answer = ask(f"Type the stage name ({plan.name}) to delete it: ")
        except EOFError:
            answer = ""
        if answer.strip() != plan.name:
            log("Not deleted.")
            return False
    if (root / ".chalice" / "deployed" / f"{plan.name}.json").exists():
        log(f"==> chalice delete --stage {plan.name}")
        values = StageValues(redis_url="redis://unused.invalid:6379/0")  # delete reads no environment
        scope = workspace.scope_for(config, plan, values, may_post=False)
        project = workspace.build(
            build_dir(root) / plan.name, config, plan, values, scope, _literal(aws, values, ""), root=root
        )
        run(project, ["delete", "--stage", plan.name], aws.chalice_env())
    else:
        log(f"    no .chalice/deployed/{plan.name}.json: no Chalice resources to delete")
    # chalice delete only removes the retention policy, which would keep the logs forever. The last
    # name is the log group Chalice makes for a REST handler it names differently (see below).
    names = [f"/aws/lambda/{lambda_name(app_name, plan.name, function)}" for function in FUNCTIONS]
    delete_log_groups(aws, [*names, f"/aws/lambda/{app_name}-{plan.name}-api_handler"], log)
    infra.delete(aws.cloudformation, plan.relay_stack_name(app_name), log)  # says so if there is none
    if plan.in_vpc:
        infra.delete(aws.cloudformation, stack, log)
    log(f"Stage {plan.name} deleted.")
    return True


def rest_handler_log_group(aws: Aws, function: str, retention_days: int, log: Log = print) -> None:
    """Create the REST handler's log group with the stage's retention.

    ``chalice deploy`` names the REST handler ``<app>-<stage>`` but makes its log group (with the
    retention) as ``/aws/lambda/<app>-<stage>-api_handler``, a group no function writes to; the
    real one would be created by Lambda on first write, which needs ``logs:CreateLogGroup`` and
    keeps the logs forever. Made here before the function exists, it needs neither.
    """
    name = f"/aws/lambda/{function}"
    try:
        aws.logs.create_log_group(logGroupName=name)
        log(f"    created log group {name}")
    except aws.logs.exceptions.ResourceAlreadyExistsException:
        pass
    aws.logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)


def delete_log_groups(aws: Aws, names: list[str], log: Log = print) -> None:
    for name in names:
        try:
            aws.logs.delete_log_group(logGroupName=name)
            log(f"    deleted log group {name}")
        except aws.logs.exceptions.ResourceNotFoundException:
            pass


def package(
    plan: Stage,
    config: Mapping[str, Any],
    out_dir: Path,
    *,
    run: Runner = run_chalice,
    log: Log = print,
    root: Path = ROOT,
    project_dir: Path | None = None,
    cache: Path | None = None,
) -> Path:
    """``chalice package --merge-template``: one CloudFormation template with the app (and infra)."""
    check_runtime()
    stage_api = api_stage(dict(config), plan.name)
    values = StageValues()  # the merge template supplies the environment and VPC settings
    # The merge template supplies the infra's AUTH secret (VPC stages) and every stage's identity secret.
    scope = replace(
        workspace.scope_for(config, plan, values, may_post=True), auth_secret=plan.in_vpc, identity_secret=True
    )
    project = workspace.build(
        project_dir or (build_dir(root) / f"package-{plan.name}"),
        config,
        plan,
        values,
        scope,
        policies.cloudformation,
        root=root,
        share_deployed=False,
        package_cache=cache or package_cache(root),
    )
    merge = merged.template(
        plan,
        stage_api,
        app_name=config["app_name"],
        log_groups=bool(workspace.setting(config, plan.name, "log_retention_in_days")),
        infra_template=root / INFRA_TEMPLATE.relative_to(ROOT),
    )
    merge_file = project / "merge.json"
    merge_file.write_text(json.dumps(merge, indent=2) + "\n")
    out_dir = out_dir.resolve()
    args = ["package", "--stage", plan.name, "--merge-template", str(merge_file), str(out_dir)]
    run(project, args, dict(os.environ, AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1")))
    template_file = out_dir / "sam.json"
    merged.check(json.loads(template_file.read_text()), merge)
    log(f"Wrote {template_file} and {out_dir / 'deployment.zip'}")
    return template_file
