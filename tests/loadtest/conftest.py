"""Markers of the load-test tests."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "llamacpp: starts a real llama.cpp server on 127.0.0.1")
