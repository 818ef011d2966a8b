"""tests/features/test_devices.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_devices import *  # noqa: F403
