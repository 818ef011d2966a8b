"""Benchmarks: figures printed for people, never asserted as tests. Not packaged into the Lambda."""
