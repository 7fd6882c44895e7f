"""Markers of the planner tests."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "ray: runs a local Ray instance (slow start-up, ~10 s)")
