"""tests/features/test_typing_and_turn.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_typing_and_turn import *  # noqa: F403
