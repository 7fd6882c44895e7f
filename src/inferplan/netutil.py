"""Local networking helpers shared by the servers the tool starts (llama.cpp's, its own web app)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now (the OS picks it; another process could
    still take it before the caller binds, which the callers' readiness checks catch)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
