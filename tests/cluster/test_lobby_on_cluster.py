"""tests/features/test_lobby.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_lobby import *  # noqa: F403
