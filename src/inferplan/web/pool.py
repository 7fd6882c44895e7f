"""Worker processes for the web app: at most N computations at once, each with a hard deadline.

A thread cannot be stopped, so a computation that ran past its deadline in a thread kept
running (and kept its CPU and memory) after the client got its 503. Here each computation runs
in one of ``size`` worker processes; past the deadline the worker is killed (SIGKILL), which
ends the work and frees its CPU and memory, and a fresh worker is forked on the next demand.

Jobs are registered by name before the first worker starts (:meth:`WorkerPool.register`);
workers are forked from the app process, so they inherit the registry, the loaded library and
its caches, and a call sends only the job's name and plain arguments. A job returns
``("ok", value)`` or ``("error", status, detail)``; the value must pickle (pydantic models do).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["WorkerPool", "Busy", "Timeout", "WorkerDied"]


class Busy(Exception):
    """More calls are waiting than the pool accepts."""


class Timeout(Exception):
    """A call ran past its deadline; its worker was killed."""


class WorkerDied(Exception):
    """The worker ended without answering (killed from outside, out of memory)."""


def _worker_main(conn, jobs: dict[str, Callable[..., Any]]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server's Ctrl-C is the parent's business
    while True:
        try:
            name, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            out = jobs[name](*args)
        except BaseException as e:  # noqa: BLE001 - the job maps its own errors; this is a bug
            out = ("error", 500, f"internal error ({type(e).__name__}); see the server log")
        try:
            conn.send(out)
        except Exception as e:  # noqa: BLE001 - an unpicklable result is a bug, not a hang
            conn.send(("error", 500, f"internal error (result not sendable: {type(e).__name__})"))


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Any

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def kill(self) -> None:
        try:
            self.process.kill()
        except (OSError, ValueError):
            pass
        self.process.join(timeout=5)
        self.conn.close()


@dataclass(eq=False)
class WorkerPool:
    """``size`` worker processes; :meth:`run` calls a registered job with a deadline."""

    size: int = 4
    max_waiting: int = 256
    jobs: dict[str, Callable[..., Any]] = field(default_factory=dict)
    _idle: list[_Worker] = field(default_factory=list)
    _busy: set[_Worker] = field(default_factory=set)
    _sems: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)
    _waiting: int = 0
    killed_pids: list[int] = field(default_factory=list)  # workers killed at a deadline (or dead)

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if self._idle or self._busy:
            raise RuntimeError("register jobs before the first call (workers inherit them)")
        self.jobs[name] = fn

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in (*self._idle, *self._busy)]

    @property
    def busy(self) -> int:
        return len(self._busy)

    def _spawn(self) -> _Worker:
        ctx = mp.get_context("fork")  # inherit the loaded library, its caches and the registry
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_worker_main, args=(child, self.jobs), daemon=True,
                        name="inferplan-web-worker")
        p.start()
        child.close()
        return _Worker(p, parent)

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.size)
        return sem

    async def run(self, name: str, *args: Any, timeout_s: float) -> Any:
        """The job's ``("ok", value)`` / ``("error", status, detail)`` answer; raises Busy,
        Timeout (the worker is killed) or WorkerDied."""
        if self._waiting >= self.max_waiting:
            raise Busy
        sem = self._sem()
        self._waiting += 1
        try:
            await sem.acquire()
        finally:
            self._waiting -= 1
        try:
            w = self._idle.pop() if self._idle else self._spawn()
            self._busy.add(w)
            try:
                answer = await asyncio.wait_for(self._call(w, name, args), timeout_s)
            except BaseException:  # the deadline, a client gone (cancelled), a dead worker
                self._busy.discard(w)
                w.kill()
                self.killed_pids.append(w.pid)
                raise
            self._busy.discard(w)
            self._idle.append(w)
            return answer
        except TimeoutError:
            raise Timeout from None
        finally:
            sem.release()

    async def _call(self, w: _Worker, name: str, args: tuple) -> Any:
        w.conn.send((name, args))
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = w.conn.fileno()
        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            return w.conn.recv()
        except (EOFError, OSError):
            raise WorkerDied from None

    def close(self) -> None:
        for w in (*self._idle, *self._busy):
            w.kill()
        self._idle.clear()
        self._busy.clear()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id still exists (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1][:1] not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not os.path.exists("/proc")
