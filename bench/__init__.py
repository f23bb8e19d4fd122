"""Benchmarks (not tests): each bench/*.py prints its figures next to the floors measured in the same run."""
