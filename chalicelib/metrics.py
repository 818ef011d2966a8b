"""CloudWatch metrics as Embedded Metric Format: one JSON log line per invocation.

aws-lambda-powertools' Metrics would write the same lines, but importing it costs 47-139 ms
(measured with ``python -X importtime`` on this project's machine) against a 300 ms budget for
the whole cold import, of which the app already uses most. EMF is a documented JSON shape, so
this small writer does the job without the import.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict


class Metrics:
    """Accumulates values during one invocation; ``flush`` prints them and starts over."""

    def __init__(self, namespace: str, service: str, enabled: bool = True) -> None:
        self.namespace = namespace
        self.service = service
        self.enabled = enabled
        self.values: dict[str, float] = defaultdict(float)
        self.units: dict[str, str] = {}

    def count(self, name: str, value: float = 1, unit: str = "Count") -> None:
        self.values[name] += value
        self.units[name] = unit

    def error(self, code: str) -> None:
        self.count("Errors")
        self.count(f"Errors.{code}")

    def document(self) -> dict[str, object]:
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [["Service"]],
                        "Metrics": [{"Name": name, "Unit": self.units[name]} for name in self.values],
                    }
                ],
            },
            "Service": self.service,
            **self.values,
        }

    def flush(self) -> None:
        if self.enabled and self.values:
            sys.stdout.write(json.dumps(self.document(), separators=(",", ":")) + "\n")
        self.values.clear()
        self.units.clear()
