"""python -m deploy {deploy,package,teardown} --stage STAGE: see docs/deploy.md."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import flow
from .stages import STAGES, load_config, stage


def _pairs(option: str, pairs: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"{option} takes NAME=VALUE, got {pair!r}")
        parsed[key] = value
    return parsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--stage", default="dev", choices=sorted(STAGES), help="Chalice stage (default dev)")
        return sub

    dep = add("deploy", "Create or update the stage: infra stack (VPC stages), then chalice deploy; print the URLs.")
    dep.add_argument("--region", help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / your profile)")
    dep.add_argument("--profile", help="AWS named profile (default: AWS_PROFILE or the default chain)")
    dep.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="infra/stack.yaml parameter, e.g. CacheNodeType=cache.r7g.large (repeatable; kept on later deploys)",
    )
    dep.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""), help="non-VPC stages: REDIS_URL")
    dep.add_argument("--redis-cluster", action="store_true", help="non-VPC stages: the Redis is in cluster mode")
    dep.add_argument(
        "--redis-auth-secret-arn", default="", help="non-VPC stages: Secrets Manager secret with the AUTH token"
    )
    dep.add_argument(
        "--turn-secret-arn",
        default="",
        help="Secrets Manager secret with coturn's static-auth-secret (TURN_SECRET_ARN); needs --env TURN_URLS=...",
    )
    dep.add_argument(
        "--identity-secret-arn",
        default="",
        help="non-VPC stages: Secrets Manager secret with the device identities' key (IDENTITY_SECRET_ARN, "
        "32+ characters); VPC stages get one from their infra stack",
    )
    dep.add_argument(
        "--allowed-origins",
        help="ALLOWED_ORIGINS for $connect, comma-separated (default: the page's own origin; '' admits any)",
    )
    dep.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment variable for every function, e.g. TURN_URLS=turns:turn.example.com:5349 (repeatable)",
    )
    dep.add_argument(
        "--relay",
        action="store_true",
        help="create or update the stage's TURN relay (infra/relay.yaml, coturn on EC2) and point the app at it; "
        "give it on every deploy (docs/turn.md)",
    )
    dep.add_argument(
        "--relay-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="infra/relay.yaml parameter, e.g. InstanceType=t4g.medium (repeatable; kept on later deploys)",
    )
    dep.add_argument("--no-check", action="store_true", help="skip reading /config of the deployed page")

    pkg = add("package", "Write one CloudFormation template (app, and infra for VPC stages) with chalice package.")
    pkg.add_argument("--out", type=Path, help="output directory (default deploy/build/cfn-STAGE)")

    down = add("teardown", "Delete the stage's Chalice app and its infra stack, after a typed confirmation.")
    down.add_argument("--region")
    down.add_argument("--profile")
    down.add_argument("--yes", action="store_true", help="do not ask (for scripts); the warning is still printed")

    args = parser.parse_args(argv)
    plan = stage(args.stage)
    config = load_config()

    if args.command == "deploy":
        parameters = _pairs("--param", args.param)  # refuse a typo before talking to AWS
        extra_env = _pairs("--env", args.env)
        relay_parameters = _pairs("--relay-param", args.relay_param)
        aws = flow.connect(args.region, args.profile)
        flow.deploy(
            plan,
            config,
            aws,
            redis_url=args.redis_url,
            redis_cluster=args.redis_cluster,
            auth_secret_arn=args.redis_auth_secret_arn,
            turn_secret_arn=args.turn_secret_arn,
            identity_secret_arn=args.identity_secret_arn,
            parameters=parameters,
            allowed_origins=args.allowed_origins,
            extra_env=extra_env,
            relay=args.relay,
            relay_parameters=relay_parameters,
            check_page=not args.no_check,
        )
    elif args.command == "package":
        out = args.out or flow.build_dir(flow.ROOT) / f"cfn-{plan.name}"
        template = flow.package(plan, config, out)
        overrides = "" if plan.in_vpc else " \\\n      --parameter-overrides RedisUrl=rediss://:TOKEN@HOST:PORT/0"
        print(NEXT_STEPS.format(template=template, out=out, stack=plan.app_stack_name(config["app_name"])) + overrides)
    elif args.command == "teardown":
        aws = flow.connect(args.region, args.profile)
        if not flow.teardown(plan, config, aws, yes=args.yes):
            return 1
    return 0


# The bucket holds the code zip and, since a VPC stage's template is over CloudFormation's
# 51,200-byte inline limit, the template too: deploy needs --s3-bucket as well as package.
NEXT_STEPS = """
Deploy it with the AWS CLI (any bucket in the same region; see docs/deploy.md):
  aws cloudformation package --template-file {template} --s3-bucket YOUR_BUCKET \\
      --output-template-file {out}/packaged.yaml
  aws cloudformation deploy --template-file {out}/packaged.yaml --stack-name {stack} \\
      --s3-bucket YOUR_BUCKET --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"""

if __name__ == "__main__":
    raise SystemExit(main())
