"""Replica schedulers: what one replica runs next, and when that step ends.

One interface (:class:`~inferplan.sim.schedulers.base.Replica`) and one registry,
``SCHEDULERS``, keyed by policy name. Built-ins register exactly as a plugin would::

    register_scheduler("my_policy", MyReplica)  # MyReplica(index, pool, role)

- ``continuous`` (:mod:`.continuous`): vLLM-style continuous batching, chunked prefill, paged
  KV cache with recompute preemption, optional prefix caching;
- ``serial`` (:mod:`.serial`): one request at a time (llama.cpp server with one slot).
"""

from __future__ import annotations

from inferplan.sim.schedulers.base import Replica
from inferplan.sim.schedulers.continuous import ContinuousBatching
from inferplan.sim.schedulers.serial import Serial

SCHEDULERS: dict[str, type[Replica]] = {}


def register_scheduler(name: str, cls: type[Replica]) -> None:
    """Add a scheduling policy under `name`; ``cls(index, pool, role)`` builds a replica."""
    SCHEDULERS[name] = cls


register_scheduler("continuous", ContinuousBatching)
register_scheduler("serial", Serial)

__all__ = ["SCHEDULERS", "ContinuousBatching", "Replica", "Serial", "register_scheduler"]
