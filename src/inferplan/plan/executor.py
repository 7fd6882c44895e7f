"""Where the planner's simulations run: in-process, a local process pool, or Ray.

All three map :func:`inferplan.plan.evaluate.run_task` over a list of tasks and yield results in
completion order with their index, so the planner's code does not depend on the executor.
Ray is optional (``pip install 'inferplan[ray]'``); without an address a local instance is
started with as many CPUs as this machine has (``ray.init(num_cpus=...)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from inferplan.errors import InputError
from inferplan.plan.evaluate import Outcome, Task, run_task

EXECUTORS = ("process", "ray", "serial")


def _warm(_: int) -> int:
    return os.getpid()


class Executor:
    """Runs tasks; `close()` releases workers (a process pool is kept across phases)."""

    def __init__(self, kind: str = "process", workers: int | None = None,
                 ray_address: str | None = None) -> None:
        if kind not in EXECUTORS:
            raise InputError(f"unknown executor '{kind}' (known: {', '.join(EXECUTORS)})")
        self.kind = kind
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool = None
        self._ray = None
        if kind == "ray":
            try:
                import ray
            except ImportError:
                raise InputError("--executor ray needs Ray: pip install 'inferplan[ray]'") from None
            if not ray.is_initialized():
                if ray_address:
                    ray.init(address=ray_address, log_to_driver=False)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            self._ray = ray
            self._remote = ray.remote(run_task)
        elif kind == "process" and self.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method))
            # start the workers now, before any progress-bar thread exists in this process
            list(self._pool.map(_warm, range(self.workers)))

    def map(self, tasks: Sequence[Task],
            on_done: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
        out: list[Outcome | None] = [None] * len(tasks)
        for i, res in self._iter(tasks):
            out[i] = res
            if on_done:
                on_done(i, res)
        return out  # type: ignore[return-value]

    def _iter(self, tasks: Sequence[Task]) -> Iterator[tuple[int, Outcome]]:
        if not tasks:
            return
        if self._ray is not None:
            ray = self._ray
            refs = {self._remote.remote(t): i for i, t in enumerate(tasks)}
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield refs[ref], ray.get(ref)
            return
        if self._pool is None or len(tasks) == 1:
            for i, t in enumerate(tasks):
                yield i, run_task(t)
            return
        from concurrent.futures import as_completed

        futs = {self._pool.submit(run_task, t): i for i, t in enumerate(tasks)}
        for f in as_completed(futs):
            yield futs[f], f.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
