"""Shared settings of the simulator tests."""

from __future__ import annotations
