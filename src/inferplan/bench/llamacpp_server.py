"""A local llama-cpp-python server for load tests, started so that a llama.cpp crash is survivable.

    python -m inferplan.bench.llamacpp_server [--no-repack] ARGS   # ARGS: llama_cpp.server's

is ``python -m llama_cpp.server ARGS``, with llama.cpp's weight repacking off when ``--no-repack``
is given (:func:`inferplan.bench.llamacpp.disable_weight_repacking`, as llama-server's flag).
:func:`start_llamacpp_server` starts it, waits until it answers a one-token completion (the first
matrix product is where ggml's AMX kernels crash on some CPUs: ``bench/llamacpp.py``) and, if the
server died from a signal before that, starts it once more with repacking off. A server that
exits with an error (a bad file, a port taken) is reported with the end of its log. ``LocalServer.weight_repacking``
says which one runs, so a report can state it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from inferplan.errors import InputError
from inferplan.netutil import free_port

__all__ = ["LocalServer", "start_llamacpp_server"]

POLL_S = 0.5  # between readiness probes


@dataclass
class LocalServer:
    """A running llama-cpp-python server on 127.0.0.1."""

    proc: subprocess.Popen
    url: str
    weight_repacking: bool
    log: Path  # the server's stderr

    def stop(self, timeout_s: float = 30.0) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.unlink(missing_ok=True)


def _launch(path: Path, threads: int, n_ctx: int, repack: bool, extra: tuple[str, ...]) -> LocalServer:
    port = free_port()
    cmd = [sys.executable, "-m", "inferplan.bench.llamacpp_server", *([] if repack else ["--no-repack"]),
           "--model", str(path), "--host", "127.0.0.1", "--port", str(port),
           "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", str(n_ctx),
           "--interrupt_requests", "False", "--logits_all", "False", *extra]
    fd, log = tempfile.mkstemp(prefix="inferplan-llamacpp-server-", suffix=".log")
    with open(fd, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    return LocalServer(proc, f"http://127.0.0.1:{port}", repack, Path(log))


def _log_tail(server: LocalServer, lines: int = 2) -> str:
    """The last lines of the server's log (its error, as a Python server ends with it)."""
    try:
        text = server.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
    return " | ".join(kept)[-400:] or "(empty log)"


def _ready(server: LocalServer, timeout_s: float) -> bool:
    """True once the server answers a one-token completion; False if its process ended first.
    InputError when it neither answers nor ends within `timeout_s`."""
    import httpx

    deadline = time.monotonic() + timeout_s
    body = {"prompt": "a", "max_tokens": 1}
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        try:
            r = httpx.post(server.url + "/v1/completions", json=body, timeout=30, trust_env=False)
            if r.status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(POLL_S)
    server.stop()
    raise InputError(f"the llama.cpp server did not answer within {timeout_s:.0f} s")


def start_llamacpp_server(path: Path, threads: int = 2, n_ctx: int = 2048, timeout_s: float = 120.0,
                          extra_args: tuple[str, ...] = ()) -> LocalServer:
    """Serve the GGUF at `path` on a free local port; with weight repacking off if the server
    crashes with it on (see module docstring). InputError if it crashes both ways."""
    if not Path(path).is_file():
        raise InputError(f"no GGUF file at {path}")
    for repack in (True, False):
        server = _launch(path, threads, n_ctx, repack, extra_args)
        if _ready(server, timeout_s):
            return server
        code, tail = server.proc.returncode, _log_tail(server)
        server.log.unlink(missing_ok=True)
        if code is None or code >= 0:  # an error exit, not a crash: repacking is not the cause
            raise InputError(f"the llama.cpp server exited with code {code} serving {path.name}: {tail}")
    from inferplan.bench.llamacpp import signal_name

    raise InputError(f"the llama.cpp server crashed ({signal_name(-code)}) serving "
                     f"{path.name}, with and without weight repacking: {tail}")


def main() -> None:
    args = sys.argv[1:]
    if "--no-repack" in args:
        args.remove("--no-repack")
        from inferplan.bench.llamacpp import disable_weight_repacking

        disable_weight_repacking()
    from llama_cpp.server.__main__ import main as serve  # type: ignore[import-not-found]

    sys.argv = ["llama_cpp.server", *args]
    serve()


if __name__ == "__main__":
    main()
