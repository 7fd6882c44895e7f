"""inferplan's web app run in a child process on a free local port (the browser test and the
web-load benchmark start it this way; ``inferplan serve`` runs it in-process instead)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from inferplan.errors import InferplanError
from inferplan.netutil import free_port

READY_PATH = "/api/models"  # answers once the app has loaded its catalog


@contextmanager
def running_server(env: Mapping[str, str] | None = None, timeout_s: float = 30.0) -> Iterator[str]:
    """Start ``uvicorn inferplan.web.app:create_app`` on 127.0.0.1 and a free port, wait until
    it answers, yield its base URL, and stop it on exit. `env` replaces the child's environment
    (None: this process's). Raises InferplanError with the end of the server's log if it exits
    or does not answer within `timeout_s` seconds."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="inferplan-web-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "inferplan.web.app:create_app",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env=dict(env) if env is not None else None, stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + timeout_s
                while not _answers(url):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        tail = log_path.read_text(errors="replace")[-2000:]
                        raise InferplanError(f"inferplan's web app did not start on {url}: {tail}")
                    time.sleep(0.1)
                yield url
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + READY_PATH, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
