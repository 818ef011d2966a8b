"""tests/robustness/test_duplicates.py, unchanged, on the cluster: the de-duplication keys share the hash tag too."""

from tests.robustness.test_duplicates import *  # noqa: F403
