"""tests/test_disconnect_and_gone.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.test_disconnect_and_gone import *  # noqa: F403
