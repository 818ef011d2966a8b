"""tests/features/test_limits.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_limits import *  # noqa: F403
