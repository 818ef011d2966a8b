"""tests/features/test_stats_and_metrics.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_stats_and_metrics import *  # noqa: F403
