"""The cluster: replicas behind a router, optional disaggregated prefill/decode pools, and the
one event loop of the simulator.

Events are small typed classes (:class:`StepEnd`, :class:`Handoff`, :class:`Arrival`) in one
heap ordered by ``(time, kind order, creation order)``: at equal times a step end comes before a
KV hand-off, which comes before an arrival, so a seed gives one ordering. Each event's
``handle`` returns the events it causes (the end of a step started, a hand-off to the decode
pool, a closed-loop user's next request), as vidur's events do. Open-loop arrivals are not put in
the heap: they are read in order from the request arrays and merged with it.

Routers (``ROUTERS``): ``round_robin`` and ``least_outstanding_tokens`` (fewest prompt +
output tokens of assigned, unfinished requests; ties to the lowest index).

Disaggregation: a prefill pool's replicas run prompts only; when a prompt is done the first
token is out (TTFT) and its KV cache crosses the link between the pools
(``transfer_s(request)``), then a decode pool replica admits it and generates the rest.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from inferplan.errors import InputError, UnknownIdError
from inferplan.sim.entities import DONE, TRANSFER, Request
from inferplan.sim.schedulers import Replica
from inferplan.sim.workload import RequestArrays


class Router:
    name = ""

    def pick(self, replicas: Sequence[Replica], req: Request) -> int:
        raise NotImplementedError


class RoundRobin(Router):
    name = "round_robin"

    def __init__(self) -> None:
        self.next = 0

    def pick(self, replicas: Sequence[Replica], req: Request) -> int:
        i = self.next % len(replicas)
        self.next += 1
        return i


class LeastOutstandingTokens(Router):
    name = "least_outstanding_tokens"

    def pick(self, replicas: Sequence[Replica], req: Request) -> int:
        best, best_v = 0, math.inf
        for i, r in enumerate(replicas):
            if r.outstanding_tokens < best_v:
                best, best_v = i, r.outstanding_tokens
        return best


ROUTERS: dict[str, type[Router]] = {}


def register_router(name: str, cls: type[Router]) -> None:
    ROUTERS[name] = cls


register_router("round_robin", RoundRobin)
register_router("least_outstanding_tokens", LeastOutstandingTokens)


def make_router(name: str) -> Router:
    aliases = {"rr": "round_robin", "lot": "least_outstanding_tokens",
               "least_outstanding": "least_outstanding_tokens"}
    key = aliases.get(name, name)
    if key not in ROUTERS:
        raise UnknownIdError("router", name, ROUTERS)
    return ROUTERS[key]()


# ---- events ------------------------------------------------------------------------------


@dataclass(slots=True)
class Event:
    """Something that happens at time `t`; ``handle`` returns the events it causes."""

    ORDER: ClassVar[int]  # at equal times, lower first
    t: float

    def handle(self, run: _Run) -> list[Event]:
        raise NotImplementedError


@dataclass(slots=True)
class StepEnd(Event):
    """The step of replica `index` of pool `pool` (0 serve/prefill, 1 decode) ends."""

    ORDER: ClassVar[int] = 0
    pool: int
    index: int
    version: int  # stale when the replica's step was cut short and rescheduled since

    def handle(self, run: _Run) -> list[Event]:
        if run.versions[self.pool][self.index] != self.version:
            return []  # superseded by an interrupt
        left, end = run.pools[self.pool][self.index].step_end(self.t)
        out = run.step_end(self.pool, self.index, end)
        for r in left:
            out += run.departed(r, self.t)
        return out


@dataclass(slots=True)
class Handoff(Event):
    """A prefilled request's KV cache reached the decode pool."""

    ORDER: ClassVar[int] = 1
    request: Request

    def handle(self, run: _Run) -> list[Event]:
        return run.deliver(1, self.request, self.t)


@dataclass(slots=True)
class Arrival(Event):
    """A request arrives at the router of the serving (or prefill) pool."""

    ORDER: ClassVar[int] = 2
    request: Request

    def handle(self, run: _Run) -> list[Event]:
        if self.request.arrival_s > run.max_time_s:
            return []
        return run.deliver(0, self.request, self.t)


class _Run:
    """State of one run of the event loop: the requests, the step versions, the closed loop."""

    def __init__(self, cluster: Cluster, reqs: list[Request], closed_users: int | None,
                 think_s: Sequence[float] | np.ndarray | None, max_time_s: float) -> None:
        self.cluster, self.reqs, self.think_s, self.max_time_s = cluster, reqs, think_s, max_time_s
        self.pools: list[list[Replica]] = [cluster.replicas, cluster.decode_pool]
        self.routers = [cluster.router, cluster.decode_router]
        self.versions = [[0] * len(p) for p in self.pools]
        self.closed = closed_users is not None
        self.issued = min(closed_users or 0, len(reqs)) if self.closed else 0
        self.heap: list[tuple[float, int, int, Event]] = []
        self.seq = 0

    def push(self, ev: Event) -> None:
        heapq.heappush(self.heap, (ev.t, ev.ORDER, self.seq, ev))
        self.seq += 1

    def step_end(self, pool: int, i: int, end: float | None) -> list[Event]:
        if end is None:
            return []
        self.versions[pool][i] += 1
        return [StepEnd(end, pool, i, self.versions[pool][i])]

    def next_request(self, user: int, t: float) -> list[Event]:
        """A closed-loop user issues its next request at `t` (none left: nothing)."""
        if not self.closed or self.issued >= len(self.reqs):
            return []
        nr = self.reqs[self.issued]
        nr.user, nr.arrival_s = user, t
        self.issued += 1
        return [Arrival(t + nr.front_s, nr)]

    def deliver(self, pool: int, r: Request, t: float) -> list[Event]:
        reps = self.pools[pool]
        i = self.routers[pool].pick(reps, r)
        rep = reps[i]
        end = rep.enqueue(r, t)
        if end is None:
            end = rep.interrupt(t)
        out = self.step_end(pool, i, end)
        if r.rejected:  # the user moves on to its next request
            out += self.next_request(r.user, t)
        return out

    def departed(self, r: Request, t: float) -> list[Event]:
        """`r` left a replica at `t`: to the decode pool, or done (its user thinks, then asks)."""
        if r.state == TRANSFER and not self.cluster.decode_pool:
            r.state, r.finish_s = DONE, t  # prefill pool studied alone
            return []
        if r.state == TRANSFER:
            return [Handoff(t + self.cluster.transfer_s(r), r)]
        if r.state == DONE and self.closed and self.issued < len(self.reqs):
            think = self.think_s[self.issued] if self.think_s is not None else 0.0
            return self.next_request(r.user, t + think)
        return []


class Cluster:
    """Replicas (and an optional decode pool) driven by one event loop."""

    def __init__(self, replicas: list[Replica], router: Router, *,
                 decode_pool: list[Replica] | None = None, decode_router: Router | None = None,
                 transfer_s: Callable[[Request], float] | None = None, front_s: float = 0.0) -> None:
        if not replicas:
            raise InputError("a cluster needs at least one replica")
        self.replicas = replicas
        self.router = router
        self.decode_pool = decode_pool or []
        self.decode_router = decode_router or RoundRobin()
        self.transfer_s = transfer_s or (lambda r: 0.0)
        self.front_s = front_s  # API-server time of each request before the router sees it
        self.events = 0

    def run(self, reqs: RequestArrays, *, closed_users: int | None = None,
            think_s: Sequence[float] | np.ndarray | None = None, max_time_s: float = math.inf,
            prefilled: bool = False) -> list[Request]:
        """Simulate every request of `reqs` to completion; returns them in id order.

        prefilled: requests arrive with their prompt's KV and first token (a decode pool
        studied alone). A prefill pool without a decode pool ends requests at hand-off.
        """
        allr = _requests(reqs, prefilled)
        if self.front_s > 0 and not prefilled:
            for r in allr:
                r.front_s = self.front_s
        run = _Run(self, allr, closed_users, think_s, max_time_s)
        for u in range(run.issued):  # closed loop: every user's first request at t = 0
            allr[u].arrival_s, allr[u].user = 0.0, u
            run.push(Arrival(allr[u].front_s, allr[u]))
        stream = iter(()) if run.closed else iter(allr)  # open loop: arrivals in order
        nxt = next(stream, None)
        heap, events = run.heap, 0
        while nxt is not None or heap:
            if nxt is not None and (not heap or nxt.arrival_s + nxt.front_s < heap[0][0]):  # ties: heap first
                ev: Event = Arrival(nxt.arrival_s + nxt.front_s, nxt)
                nxt = next(stream, None)
            else:
                ev = heapq.heappop(heap)[3]
            events += 1
            for caused in ev.handle(run):
                run.push(caused)
        self.events = events
        return allr


def _requests(reqs: RequestArrays, prefilled: bool) -> list[Request]:
    allr = [Request(i, float(reqs.arrival_s[i]), int(reqs.input_tokens[i]),
                    int(reqs.output_tokens[i]), int(reqs.prefix_id[i]),
                    int(reqs.prefix_tokens[i])) for i in range(len(reqs))]
    if prefilled:
        for r in allr:
            r.computed = r.prompt_tokens
            r.out_left = r.output_tokens - 1
            r.first_token_s = r.arrival_s
    return allr
