"""web.local.running_server: the app in a child process on a free port, stopped on exit."""

from __future__ import annotations

import pytest

from inferplan.errors import InferplanError

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")


def test_the_server_answers_inside_and_is_gone_after():
    from inferplan.web.local import running_server

    with running_server() as url:
        assert httpx.get(url + "/api/models", timeout=5).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/api/models", timeout=1)


def test_a_server_that_does_not_answer_in_time_is_an_error_not_a_hang():
    from inferplan.web.local import running_server

    with pytest.raises(InferplanError, match="did not start"):
        with running_server(timeout_s=0.0):
            pytest.fail("yielded before the server answered")
