"""tests/test_matching.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.test_matching import *  # noqa: F403
