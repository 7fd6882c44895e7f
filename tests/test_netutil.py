"""netutil.free_port: a port nothing listens on, that the caller can bind."""

from __future__ import annotations

import socket

from inferplan.netutil import free_port


def test_free_port_can_be_bound_and_is_not_one_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        port = free_port()
        assert port != taken and 1024 <= port <= 65535
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # raises if the port were in use
