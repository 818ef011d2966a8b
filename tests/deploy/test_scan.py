"""checkov on infra/stack.yaml, infra/relay.yaml and the packaged templates: every finding fixed or justified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploy import cfn_yaml, scanners
from deploy.stages import INFRA_TEMPLATE, RELAY_TEMPLATE


def declared_skips(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(resource, check id) for every checkov skip in a template's Metadata; each must say why."""
    skips = set()
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{name} skips {skip['id']} without a reason"
            skips.add((f"{resource['Type']}.{name}", skip["id"]))
    return skips


@pytest.fixture(scope="module")
def scan(packaged: dict[str, Path]) -> scanners.ScanResult:
    return scanners.checkov(INFRA_TEMPLATE, RELAY_TEMPLATE, *packaged.values())


def test_checkov_reports_no_failed_check(scan):
    assert scan.passed > 100
    assert [(f.check_id, f.resource, Path(f.file).name) for f in scan.failed] == []


def test_every_skip_is_justified_and_matches_a_real_finding(scan, packaged, templates):
    by_file: dict[str, set[tuple[str, str]]] = {
        "stack.yaml": declared_skips(cfn_yaml.load(INFRA_TEMPLATE)),
        "relay.yaml": declared_skips(cfn_yaml.load(RELAY_TEMPLATE)),
    }
    for stage, path in packaged.items():
        by_file[f"{stage}/{path.name}"] = declared_skips(templates[stage])
    used: dict[str, set[tuple[str, str]]] = {key: set() for key in by_file}
    for finding in scan.skipped:
        key = next(k for k in by_file if finding.file.endswith(k))
        used[key].add((finding.resource, finding.check_id))
    assert used == by_file  # no stale skip hides nothing, no finding is skipped without a declared reason
