"""infra/relay.yaml: coturn on EC2 behind an Elastic IP, open only where TURN needs it, sharing
the functions' secret; and the relay's secret sync, run for real against coturn, through a rotation.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.ice import turn_credential
from deploy import cfn_yaml, infra, scanners
from deploy.stages import RELAY_TEMPLATE
from localdev.turn import TurnServer, find_coturn


@pytest.fixture(scope="module")
def relay() -> dict[str, Any]:
    return cfn_yaml.load(RELAY_TEMPLATE)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def user_data(relay: dict[str, Any]) -> str:
    """The instance's boot script with CloudFormation's substitutions filled in with samples."""
    data = relay["Resources"]["RelayLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    template = data["Fn::Base64"]["Fn::Sub"][0]
    samples = {"PublicAddress": "203.0.113.7", "TurnSecret": "arn:aws:secretsmanager:eu-west-1:1:secret:t-AbCdEf"}
    return re.sub(r"\$\{([\w:.]+)\}", lambda m: samples.get(m.group(1), f"sample-{m.group(1)}"), template)


def test_cfn_lint_passes_on_the_relay_template():
    done = scanners.cfn_lint(RELAY_TEMPLATE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(RELAY_TEMPLATE.read_bytes()) < infra.TEMPLATE_BODY_LIMIT  # infra.deploy sends it inline


def test_the_relay_is_open_to_the_world_only_on_turn_ports_and_its_relay_range(relay):
    group = relay["Resources"]["RelaySecurityGroup"]["Properties"]
    inline = {(r["IpProtocol"], str(r["FromPort"]), str(r["ToPort"])) for r in group["SecurityGroupIngress"]}
    assert inline == {("udp", "3478", "3478"), ("tcp", "3478", "3478"), ("udp", "{'Ref': 'MinPort'}", "{'Ref': 'MaxPort'}")}
    extra = of_type(relay, "AWS::EC2::SecurityGroupIngress")
    assert {name: (r["Condition"], r["Properties"]["FromPort"]) for name, r in extra.items()} == {
        "TlsIngress": ("HasTls", 5349),  # turns: only with a certificate
        "AcmeIngress": ("LetsEncrypt", 80),  # the HTTP-01 challenge only with Let's Encrypt
    }
    assert relay["Parameters"]["TlsCertificate"]["Default"] == "none"


def test_the_instance_may_read_only_the_turn_secret_and_take_only_its_elastic_ip(relay):
    role = relay["Resources"]["RelayRole"]["Properties"]
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    assert statements["ReadTheSharedSecret"]["Action"] == "secretsmanager:GetSecretValue"
    assert statements["ReadTheSharedSecret"]["Resource"] == {"Ref": "TurnSecret"}
    eip = statements["TakeTheElasticIp"]
    assert eip["Action"] == "ec2:AssociateAddress"
    assert "elastic-ip/${PublicAddress.AllocationId}" in eip["Resource"][0]["Fn::Sub"]
    tls = relay["Resources"]["TlsCertificateRead"]
    assert tls["Condition"] == "CertFromSecret" and tls["Properties"]["Roles"] == [{"Ref": "RelayRole"}]
    template = relay["Resources"]["RelayLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert template["MetadataOptions"]["HttpTokens"] == "required"  # IMDSv2 only
    assert all(m["Ebs"]["Encrypted"] for m in template["BlockDeviceMappings"])


def test_one_self_healing_instance_holds_the_elastic_ip_and_the_outputs_feed_the_app(relay):
    group = relay["Resources"]["RelayGroup"]["Properties"]
    assert (group["MinSize"], group["MaxSize"]) == ("1", "1")
    assert group["VPCZoneIdentifier"] == [{"Ref": "PublicSubnetA"}, {"Ref": "PublicSubnetB"}]
    assert set(infra.RELAY_OUTPUTS) <= set(relay["Outputs"])
    urls = relay["Outputs"]["TurnUrls"]["Value"]["Fn::If"]
    assert all(branch["Fn::Sub"].startswith("turn:${PublicAddress}:3478?transport=udp,") for branch in urls[1:])
    assert "turns:${DomainName}:5349" in urls[1]["Fn::Sub"] and "turns:" not in urls[2]["Fn::Sub"]


def test_coturn_on_the_instance_refuses_private_loopback_and_metadata_peers(relay):
    script = user_data(relay)
    denied = re.findall(r"^denied-peer-ip=(\S+)$", script, flags=re.MULTILINE)
    for needed in ("10.0.0.0-10.255.255.255", "169.254.0.0-169.254.255.255", "127.0.0.0-127.255.255.255",
                   "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255"):
        assert needed in denied
    assert "use-auth-secret" in script.splitlines() and "allow-loopback-peers" not in script


def test_the_boot_script_is_valid_bash(relay, tmp_path: Path):
    path = tmp_path / "user-data.sh"
    path.write_text(user_data(relay))
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ the secret sync, for real

FAKE_AWS = """#!/bin/bash
# Secrets Manager as far as the sync asks it: one file per staging label, absent = no such version.
while [ $# -gt 0 ]; do
  case "$1" in --version-stage) stage="$2"; shift 2 ;; *) shift ;; esac
done
[ -f "$FAKE_STAGES/$stage" ] || { echo "ResourceNotFoundException" >&2; exit 254; }
cat "$FAKE_STAGES/$stage"
"""


@pytest.fixture
def coturn() -> str:
    path = find_coturn()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("coturn is not installed: CI must run the relay tests", pytrace=False)
        pytest.skip("coturn is not installed (apt-get install coturn)")
    return path


class StagedSecret:
    """The TURN secret's staging labels in a fake Secrets Manager, and the relay's sync run against it."""

    def __init__(self, relay: dict[str, Any], turn: TurnServer, workdir: Path) -> None:
        self.turn = turn
        self.stages = workdir / "stages"
        self.stages.mkdir()
        bin_dir = workdir / "bin"
        bin_dir.mkdir()
        (bin_dir / "aws").write_text(FAKE_AWS)
        (bin_dir / "aws").chmod(0o755)
        script = user_data(relay)
        body = script.split("cat > /usr/local/bin/turn-secret-sync <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
        # The instance's database file belongs to coturn's user; here the test owns it.
        self.sync_script = workdir / "turn-secret-sync"
        self.sync_script.write_text(body.replace('chown turnserver:turnserver "$db"', ":"))
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}:{Path(turn.binary).parent}:{os.environ['PATH']}",
            "FAKE_STAGES": str(self.stages),
            "REGION": "eu-west-1",
            "SECRET": "arn:aws:secretsmanager:eu-west-1:1:secret:t-AbCdEf",
            "DB": str(turn.secret_db),
        }

    def label(self, stage: str, secret: str | None) -> None:
        path = self.stages / stage
        if secret is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(secret + "\n")

    def sync(self) -> None:
        done = subprocess.run(["bash", str(self.sync_script)], env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    def accepts(self, secret: str) -> bool:
        username = f"{int(time.time()) + 600}:probe"
        return self.turn.allocates(username, turn_credential(secret, username))


@pytest.fixture
def staged(coturn: str, relay: dict[str, Any], tmp_path: Path) -> Iterator[StagedSecret]:
    with TurnServer([], binary=coturn, realm="randomchat") as turn:
        yield StagedSecret(relay, turn, tmp_path)


def test_the_relay_accepts_every_staged_version_of_the_secret_through_a_rotation(staged: StagedSecret):
    old, new = "o" * 48, "n" * 48
    staged.label("AWSCURRENT", old)
    staged.sync()
    assert staged.accepts(old) and not staged.accepts(new)

    # 1. put-secret-value --version-stages AWSPENDING: the relay accepts both, the functions still read the old.
    staged.label("AWSPENDING", new)
    staged.sync()
    assert staged.accepts(old) and staged.accepts(new)

    # 2. update-secret-version-stage AWSCURRENT -> new: the old one becomes AWSPREVIOUS, still accepted
    # while credentials minted with it (warm functions, then their TTL) may still be used.
    staged.label("AWSPENDING", None)
    staged.label("AWSCURRENT", new)
    staged.label("AWSPREVIOUS", old)
    staged.sync()
    assert staged.accepts(old) and staged.accepts(new)

    # 3. After TURN_TTL_SECONDS, remove AWSPREVIOUS from the old version: the relay drops it.
    staged.label("AWSPREVIOUS", None)
    staged.sync()
    assert not staged.accepts(old) and staged.accepts(new)


def test_a_secret_manager_that_cannot_be_read_leaves_the_relay_as_it_was(staged: StagedSecret):
    staged.label("AWSCURRENT", "c" * 48)
    staged.sync()
    staged.label("AWSCURRENT", None)  # an outage or a lost permission, not an empty secret
    done = subprocess.run(["bash", str(staged.sync_script)], env=staged.env, capture_output=True, text=True)
    assert done.returncode == 1 and "table unchanged" in done.stderr
    assert staged.accepts("c" * 48)
