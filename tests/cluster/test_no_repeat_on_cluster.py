"""tests/features/test_no_repeat.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_no_repeat import *  # noqa: F403
