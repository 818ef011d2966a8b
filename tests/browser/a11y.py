"""An accessibility audit of the page as it is, with axe-core (vendor/axe-core, pinned and checked).

axe is evaluated in the page through the DevTools protocol, which the page's Content Security
Policy does not govern (a <script> tag would be refused, as it should be). Violations whose
impact is serious or critical fail the test; the rest are returned for the caller to print.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
AXE_FILE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
FAILING_IMPACTS = ("serious", "critical")

RUN_AXE = """async () => {
  const results = await window.axe.run(document, { resultTypes: ['violations'] });
  return results.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\\s+/g, ' ')}`),
  }));
}"""


@cache
def axe_source() -> str:
    source = AXE_FILE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    assert digest == AXE_SHA256, f"{AXE_FILE} is not axe-core {AXE_VERSION} as vendored (sha256 {digest})"
    return source.decode("utf-8")


def audit(page: Page) -> list[dict[str, Any]]:
    """All axe violations on the page now (every rule axe runs by default: WCAG 2.0 to 2.2 A and
    AA, and its best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    return page.evaluate(RUN_AXE)


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in FAILING_IMPACTS]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {v['impact']}: {v['id']} ({v['help']})\n    " + "\n    ".join(v["nodes"][:6]) for v in violations)
