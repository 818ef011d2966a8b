"""tests/features/test_report_and_ban.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_report_and_ban import *  # noqa: F403
