"""The cluster: replicas behind a router, optional disaggregated prefill/decode pools, and the
one event loop of the simulator.

Events are ``(time, kind, seq, ...)`` tuples in one heap; at equal times a step end comes
before a KV hand-off, which comes before an arrival, and ties break by creation order, so a
seed gives one ordering. Each event's handler returns the events it causes (the end of a step
started, a hand-off to the decode pool, a closed-loop user's next request).

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

from inferplan.errors import InputError
from inferplan.sim.entities import DONE, TRANSFER, Request
from inferplan.sim.scheduler import Replica
from inferplan.sim.workload import RequestArrays

STEP_END, HANDOFF, ARRIVAL = 0, 1, 2


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
    from inferplan.errors import UnknownIdError

    aliases = {"rr": "round_robin", "lot": "least_outstanding_tokens",
               "least_outstanding": "least_outstanding_tokens"}
    key = aliases.get(name, name)
    if key not in ROUTERS:
        raise UnknownIdError("router", name, ROUTERS)
    return ROUTERS[key]()


class Cluster:
    """Replicas (and an optional decode pool) driven by one event loop."""

    def __init__(self, replicas: list[Replica], router: Router, *,
                 decode_pool: list[Replica] | None = None, decode_router: Router | None = None,
                 transfer_s: Callable[[Request], float] | None = None) -> None:
        if not replicas:
            raise InputError("a cluster needs at least one replica")
        self.replicas = replicas
        self.router = router
        self.decode_pool = decode_pool or []
        self.decode_router = decode_router or RoundRobin()
        self.transfer_s = transfer_s or (lambda r: 0.0)
        self.events = 0

    def run(self, reqs: RequestArrays, *, closed_users: int | None = None,
            think_s: Sequence[float] | None = None, max_time_s: float = math.inf,
            prefilled: bool = False) -> list[Request]:
        """Simulate every request of `reqs` to completion; returns them in id order.

        prefilled: requests arrive with their prompt's KV and first token (a decode pool
        studied alone). A prefill pool without a decode pool ends requests at hand-off.
        """
        n = len(reqs)
        allr = [Request(i, float(reqs.arrival_s[i]), int(reqs.input_tokens[i]),
                        int(reqs.output_tokens[i]), int(reqs.prefix_id[i]),
                        int(reqs.prefix_tokens[i])) for i in range(n)]
        if prefilled:
            for r in allr:
                r.computed = r.prompt_tokens
                r.out_left = r.output_tokens - 1
                r.first_token_s = r.arrival_s
        pools: list[list[Replica]] = [self.replicas, self.decode_pool]
        versions = [[0] * len(self.replicas), [0] * len(self.decode_pool)]
        heap: list[tuple] = []
        seq = 0
        closed = closed_users is not None
        issued = 0
        if closed:
            for u in range(min(closed_users or 0, n)):
                r = allr[u]
                r.arrival_s, r.user = 0.0, u
                heapq.heappush(heap, (0.0, ARRIVAL, seq, r))
                seq += 1
            issued = min(closed_users or 0, n)
            nxt = n  # no open-loop pointer
        else:
            nxt = 0
        router, drouter = self.router, self.decode_router
        transfer = self.transfer_s

        def schedule_end(pool: int, i: int, end: float | None) -> None:
            nonlocal seq
            if end is None:
                return
            versions[pool][i] += 1
            heapq.heappush(heap, (end, STEP_END, seq, pool, i, versions[pool][i]))
            seq += 1

        def deliver(pool: int, r: Request, t: float) -> None:
            nonlocal seq, issued
            reps = pools[pool]
            i = (router if pool == 0 else drouter).pick(reps, r)
            rep = reps[i]
            end = rep.enqueue(r, t)
            if end is None:
                end = rep.interrupt(t)
            schedule_end(pool, i, end)
            if r.rejected and closed and issued < n:  # the user moves on to its next request
                nr = allr[issued]
                nr.user, nr.arrival_s = r.user, t
                issued += 1
                heapq.heappush(heap, (t, ARRIVAL, seq, nr))
                seq += 1

        events = 0
        while True:
            if nxt < n and (not heap or allr[nxt].arrival_s < heap[0][0]
                            or (allr[nxt].arrival_s == heap[0][0] and heap[0][1] > ARRIVAL)):
                r = allr[nxt]
                nxt += 1
                events += 1
                if r.arrival_s > max_time_s:
                    continue
                deliver(0, r, r.arrival_s)
                continue
            if not heap:
                break
            ev = heapq.heappop(heap)
            events += 1
            t, kind = ev[0], ev[1]
            if kind == STEP_END:
                pool, i, ver = ev[3], ev[4], ev[5]
                if versions[pool][i] != ver:
                    continue  # superseded by an interrupt
                left, end = pools[pool][i].step_end(t)
                schedule_end(pool, i, end)
                for r in left:
                    if r.state == TRANSFER and not self.decode_pool:
                        r.state, r.finish_s = DONE, t  # prefill pool studied alone
                    elif r.state == TRANSFER:
                        heapq.heappush(heap, (t + transfer(r), HANDOFF, seq, r))
                        seq += 1
                    elif closed and r.state == DONE and issued < n:
                        nr = allr[issued]
                        nr.user = r.user
                        nr.arrival_s = t + (think_s[issued] if think_s is not None else 0.0)
                        issued += 1
                        heapq.heappush(heap, (nr.arrival_s, ARRIVAL, seq, nr))
                        seq += 1
            elif kind == HANDOFF:
                deliver(1, ev[3], t)
            else:  # closed-loop arrival
                r = ev[3]
                if r.arrival_s <= max_time_s:
                    deliver(0, r, t)
        self.events = events
        return allr
