"""Test functions: see gradexp.objectives.core."""
