"""tests/features/test_interests.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_interests import *  # noqa: F403
