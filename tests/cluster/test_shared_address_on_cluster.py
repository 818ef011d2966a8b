"""tests/features/test_shared_address.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_shared_address import *  # noqa: F403
