"""tests/test_signalling.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.test_signalling import *  # noqa: F403
