"""tests/test_errors.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.test_errors import *  # noqa: F403
