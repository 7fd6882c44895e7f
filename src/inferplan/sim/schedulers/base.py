"""The one interface of a replica's scheduler, and the state every policy shares.

A :class:`Replica` owns its queue of waiting requests, the accounting the router and the metrics
read (outstanding tokens, requests in system / in queue over time, preemptions, prefix-cache
hits) and its step log. A policy implements two things: what to run next
(:meth:`Replica.start_next`) and what a finished step did (:meth:`Replica.step_end`); it may cut
a long step short when a request arrives (:meth:`Replica.interrupt`).

Every policy, built-in or plugin, is built the same way: ``SCHEDULERS[policy](index, pool, role)``
where `pool` is the resolved :class:`~inferplan.sim.pool.Pool` (limits, KV blocks, step-time
tables) and `role` is ``both``, ``prefill`` (requests leave after their prompt, for a decode
pool) or ``decode`` (requests may arrive already prefilled).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import TYPE_CHECKING, ClassVar

from inferplan.sim.entities import DONE, WAITING, Request, StepLog, TimeAverage

if TYPE_CHECKING:
    from inferplan.sim.pool import Pool


class Replica(ABC):
    """One replica of a pool: a queue, its accounting and a step log (see module docstring)."""

    one_at_a_time: ClassVar[bool] = False  # True: one sequence in flight (limits say so too)

    def __init__(self, index: int, pool: Pool, role: str = "both") -> None:
        self.index, self.pool, self.role = index, pool, role
        self.cost = pool.cost
        self.waiting: deque[Request] = deque()
        self.outstanding_tokens = 0  # prompt + output tokens of assigned, unfinished requests
        self.preemptions = 0
        self.prefix_hits = 0
        self.log = StepLog()
        self.in_system = TimeAverage()  # requests assigned and not finished (or handed off)
        self.in_queue = TimeAverage()  # requests waiting to be scheduled

    # ---- the interface the cluster calls --------------------------------------------------
    def enqueue(self, req: Request, t: float) -> float | None:
        """Accept `req` at time `t`; return the end time of a step started now, if any."""
        if self.role != "decode" or req.replica < 0:
            req.replica = self.index
        why = self.rejects(req)
        if why:
            req.rejected, req.state, req.finish_s = why, DONE, t
            return None
        req.state = WAITING
        if self.role == "decode":
            req.decode_replica = self.index
        self.waiting.append(req)
        self.in_system.change(t, 1)
        self.in_queue.change(t, 1)
        self.outstanding_tokens += req.input_tokens + req.output_tokens
        return None if self.busy else self.start_next(t)

    @abstractmethod
    def step_end(self, t: float) -> tuple[list[Request], float | None]:
        """The step in flight ended at `t`: (requests that left, end of the next step or None)."""

    def interrupt(self, t: float) -> float | None:
        """A request arrived at `t` during a step: new end time if the step was cut, else None."""
        return None

    # ---- what a policy implements -----------------------------------------------------------
    @property
    @abstractmethod
    def busy(self) -> bool:
        """A step is in flight."""

    @abstractmethod
    def start_next(self, t: float) -> float | None:
        """Start the next step at `t` if there is work: its end time, else None."""

    def rejects(self, req: Request) -> str:
        """Why `req` can never run here ('' if it can)."""
        return ""

    # ---- shared accounting ------------------------------------------------------------------
    def dequeued(self, t: float) -> None:
        """A waiting request was scheduled at `t`."""
        self.in_queue.change(t, -1)

    def requeued(self, t: float) -> None:
        """A preempted request went back to the front of the queue at `t`."""
        self.in_queue.change(t, 1)

    def leave(self, r: Request, t: float, left: list[Request]) -> None:
        """`r` leaves this replica at `t` (finished, or handed off to a decode pool)."""
        self.outstanding_tokens -= r.input_tokens + r.output_tokens
        self.in_system.change(t, -1)
        left.append(r)

    @property
    def busy_s(self) -> float:
        return float(sum(self.log.duration_s))
