"""tests/test_concurrency.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.test_concurrency import *  # noqa: F403
