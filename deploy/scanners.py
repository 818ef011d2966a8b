"""cfn-lint and checkov, run the way the tests and ``make scan`` run them.

cfn-lint is pinned in requirements-dev.txt. checkov cannot share that virtualenv (it pins
boto3==1.35.49 against our boto3==1.44.8), so it gets its own, ``deploy/.venv-scan``, built from
``deploy/requirements-scan.txt`` on first use and rebuilt when that file changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .stages import ROOT

SCAN_REQUIREMENTS = ROOT / "deploy" / "requirements-scan.txt"
SCAN_VENV = ROOT / "deploy" / ".venv-scan"


def cfn_lint(*templates: Path) -> subprocess.CompletedProcess[str]:
    """Run cfn-lint from this interpreter's environment; returncode 0 means no error or warning."""
    command = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]
    return subprocess.run([*command, *map(str, templates)], capture_output=True, text=True)


def ensure_checkov(venv: Path = SCAN_VENV, requirements: Path = SCAN_REQUIREMENTS) -> Path:
    """The checkov executable, installing its virtualenv first if it is missing or stale."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".venv-scan.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once must not build it twice
        if not stamp.exists() or stamp.read_text().strip() != digest:
            print(f"building {venv} for checkov (once; about 30 s)", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            subprocess.run([*pip, "-r", str(requirements)], check=True)
            stamp.write_text(digest + "\n")
    return venv / "bin" / "checkov"


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str  # "AWS::Type.LogicalId"
    file: str


@dataclass(frozen=True)
class ScanResult:
    failed: list[Finding]
    skipped: list[Finding]
    passed: int
    raw: Any


def checkov(*templates: Path) -> ScanResult:
    """Scan CloudFormation templates with checkov, offline; skips come from each resource's Metadata."""
    executable = ensure_checkov()
    args = [str(executable), "--framework", "cloudformation", "--skip-download", "--output", "json"]
    for template in templates:
        args += ["--file", str(template)]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):  # 1 means "some check failed"
        raise RuntimeError(f"checkov crashed ({done.returncode}): {done.stderr[-2000:]}")
    reports = json.loads(done.stdout)
    if isinstance(reports, dict):
        reports = [reports]
    failed: list[Finding] = []
    skipped: list[Finding] = []
    passed = 0
    for report in reports:
        results = report.get("results", {})
        failed += [_finding(r) for r in results.get("failed_checks", [])]
        skipped += [_finding(r) for r in results.get("skipped_checks", [])]
        passed += len(results.get("passed_checks", []))
    return ScanResult(failed, skipped, passed, reports)


def _finding(result: dict[str, Any]) -> Finding:
    return Finding(result["check_id"], result["resource"], result.get("file_path", ""))


def main() -> int:
    """``make scan``: lint and scan infra/stack.yaml, infra/relay.yaml and the packaged templates in deploy/build."""
    templates = [
        ROOT / "infra" / "stack.yaml",
        ROOT / "infra" / "relay.yaml",
        *sorted((ROOT / "deploy" / "build").glob("cfn-*/sam.json")),
    ]
    lint = cfn_lint(*templates)
    print(lint.stdout or "cfn-lint: no findings", lint.stderr, sep="")
    scan = checkov(*templates)
    for finding in scan.failed:
        print(f"checkov FAILED {finding.check_id} {finding.resource} ({finding.file})")
    print(f"checkov: {scan.passed} passed, {len(scan.failed)} failed, {len(scan.skipped)} skipped with a reason")
    return 1 if lint.returncode or scan.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
