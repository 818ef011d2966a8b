"""tests/test_sweep.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.test_sweep import *  # noqa: F403
