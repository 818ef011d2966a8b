"""tests/features/test_resume.py, unchanged, against the local three-primary cluster (see conftest.py)."""

from tests.features.test_resume import *  # noqa: F403
