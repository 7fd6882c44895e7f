"""`loadtest` against a misbehaving OpenAI-compatible server (a few lines of http.server here):
cut or empty streams, malformed chunks, odd usage fields, errors and a server that never answers
are failures with their reasons, and the metrics count the tokens that came back."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inferplan.errors import InputError
from inferplan.loadtest import run_loadtest
from inferplan.loadtest.compare import measured_metrics
from inferplan.sim import Arrivals, LengthDist, Workload

ITL = 0.005


def _handler(mode: str):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _json(self, code: int, obj) -> None:
            b = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            words = len(body.get("prompt", "").split())
            if not body.get("stream"):
                if mode == "hang":
                    time.sleep(30)
                self._json(200, {"choices": [{"text": "x", "finish_reason": "length"}],
                                 "usage": {"prompt_tokens": 2 + 2 * words}})
                return
            if mode == "err500":
                self._json(500, {"error": "boom"})
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()

            def send(obj) -> None:
                data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
                self.wfile.write(b"data: " + data + b"\n\n")
                self.wfile.flush()

            if mode == "empty":
                send(b"[DONE]")
                return
            if mode == "malformed":
                send(b"[1, 2]")
                return
            if mode == "cut":
                send({"choices": [{"text": "a"}]})
                return  # the connection closes without [DONE]
            asked = body.get("max_tokens", 16)
            got = 3 if mode == "short" else asked
            for i in range(got):
                send({"choices": [{"text": " tok", "finish_reason": "stop" if i == got - 1 else None}]})
                time.sleep(ITL)
            usage = {"prompt_tokens": "abc" if mode == "odd_usage" else 2 + 2 * words,
                     "completion_tokens": got}
            send({"choices": [], "usage": usage})
            send(b"[DONE]")
    return H


@pytest.fixture
def fake():
    servers = []

    def start(mode: str) -> str:
        srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(mode))
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _closed(users: int = 2, o: int = 12) -> Workload:
    return Workload(name="fixed", arrivals=Arrivals(kind="closed", users=users),
                    input=LengthDist(value=32), output=LengthDist(value=o))


@pytest.mark.parametrize("mode,why", [
    ("cut", "without [DONE] or a finish_reason"),
    ("empty", "carried no text"),
    ("malformed", "malformed stream chunk"),
    ("err500", "HTTP 500"),
])
def test_a_broken_stream_is_a_failure_with_its_reason(fake, mode, why):
    run = run_loadtest(fake(mode), _closed(), requests=3, max_duration_s=20, local_only=True)
    assert run.records and all(r.error and why in r.error for r in run.records)
    assert measured_metrics(run).completed == 0


def test_metrics_count_the_tokens_received_not_the_tokens_asked(fake):
    run = run_loadtest(fake("short"), _closed(o=12), requests=3, max_duration_s=20, local_only=True)
    assert all(r.error is None and r.completion_tokens == 3 and r.received_tokens == 3 for r in run.records)
    m = measured_metrics(run)
    assert m.output_tok_s == pytest.approx(3 * m.requests_per_s)
    # TPOT over the 2 gaps of 3 tokens received, not 11 of the 12 asked
    import numpy as np

    tpots = sorted((r.done_s - r.first_token_s) / 2 for r in run.records)
    assert m.tpot_s.mean == pytest.approx(float(np.mean(tpots)))


def test_an_odd_usage_count_is_ignored_not_a_crash(fake):
    run = run_loadtest(fake("odd_usage"), _closed(), requests=2, max_duration_s=20, local_only=True)
    assert all(r.error is None and r.prompt_tokens is None and r.completion_tokens == 12 for r in run.records)


def test_a_server_that_never_answers_stops_at_the_time_limit(fake):
    t = time.perf_counter()
    with pytest.raises(InputError, match="did not answer the prompt-length probe within the 1 s"):
        run_loadtest(fake("hang"), _closed(), requests=2, max_duration_s=1, local_only=True)
    assert time.perf_counter() - t < 10
