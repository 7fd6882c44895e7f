"""`loadtest` against a real llama.cpp server (llama-cpp-python) started here on 127.0.0.1 with a
small synthetic GGUF model; the simulation of the same requests is put beside it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from inferplan.errors import InputError
from inferplan.loadtest import loadtest, run_loadtest
from inferplan.loadtest.client import check_endpoint
from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")
pytestmark = pytest.mark.llamacpp

BASE = "llama-3.2-1b"
LAYERS, VOCAB, QTYPE = 1, 512, "q8_0"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from inferplan.bench.gguf_synth import write_synthetic_gguf
    from inferplan.bench.llamacpp_server import start_llamacpp_server
    from inferplan.models.registry import get_model

    path = write_synthetic_gguf(get_model(BASE), tmp_path_factory.mktemp("gguf") / "tiny.gguf",
                                QTYPE, layers=LAYERS, vocab=VOCAB)
    local = start_llamacpp_server(path, threads=2, timeout_s=90)
    try:
        yield local.url
    finally:
        local.stop(timeout_s=20)


def closed(users: int, i: int = 64, o: int = 12) -> Workload:
    return Workload(name="fixed", arrivals=Arrivals(kind="closed", users=users),
                    input=LengthDist(value=i), output=LengthDist(value=o))


@pytest.fixture(scope="module")
def sim_model():
    from inferplan.bench.gguf_synth import synthetic_model
    from inferplan.models.registry import get_model

    return synthetic_model(get_model(BASE), layers=LAYERS, vocab=VOCAB)


def test_loadtest_records_every_token_of_every_request(server):
    run = run_loadtest(server, closed(1), requests=3, max_duration_s=60, local_only=True)
    assert run.requests_sent == 3 and all(r.error is None for r in run.records)
    for r in run.records:
        assert r.finish_reason == "length"
        assert r.sent_s < r.first_token_s <= r.done_s
        # one chunk per streamed token (a few may carry no text: the server's first and last)
        assert len(r.token_s) == r.chunks and r.output_tokens - 2 <= r.chunks <= r.output_tokens
    assert run.tokens_per_word > 0


def test_serial_server_makes_concurrent_clients_wait_and_the_simulation_agrees(server, sim_model):
    # the llama-cpp-python server has one slot (llama-server's own default is 4): slots=1
    dep = DeploymentSpec(hardware="ryzen-9-7950x", precision=QTYPE, engine="llama.cpp", threads=2,
                         slots=1)
    one = loadtest(server, closed(1), requests=4, max_duration_s=120, local_only=True,
                   sim_model=sim_model, sim_deployment=dep)
    four = loadtest(server, closed(4), requests=8, max_duration_s=120, local_only=True,
                    sim_model=sim_model, sim_deployment=dep)
    assert one.failed == 0 and four.failed == 0
    # one request at a time: with 4 clients a request waits for ~3 others (~3x the end-to-end
    # time in steady state; margins leave room for a busy 2-core CI machine), and the wait shows
    # before its first token
    assert four.measured.e2e_s.mean > 1.5 * one.measured.e2e_s.mean
    assert four.measured.ttft_s.mean > 2.0 * one.measured.ttft_s.mean
    assert four.simulated is not None and four.simulated.pools[0].policy == "serial"
    sim = four.simulated.metrics
    assert sim.e2e_s.mean > 2.0 * one.simulated.metrics.e2e_s.mean
    rows = {r.metric: r for r in four.comparison}
    assert {"TTFT p50", "TPOT mean", "E2E p90", "requests/s"} <= set(rows)
    assert rows["E2E mean"].measured and rows["E2E mean"].simulated


def test_loadtest_cli_prints_json_with_measured_metrics(server):
    r = CliRunner().invoke(__import__("inferplan.cli.main", fromlist=["app"]).app, [
        "loadtest", "--endpoint", server, "--users", "2", "--input-len", "32", "--output-len", "6",
        "-n", "4", "--local-only", "--json"])
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["measured"]["completed"] == 4 and d["measured"]["ttft_s"]["p50"] > 0


def test_only_local_endpoints_when_asked():
    with pytest.raises(InputError, match="not on this machine"):
        check_endpoint("http://example.com:8000", local_only=True)
    with pytest.raises(InputError, match="http"):
        check_endpoint("ftp://127.0.0.1/", local_only=True)
    assert check_endpoint("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"


def test_a_server_that_cannot_start_says_why(tmp_path):
    from pathlib import Path

    from inferplan.bench.llamacpp_server import start_llamacpp_server

    with pytest.raises(InputError, match="no GGUF file"):
        start_llamacpp_server(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    with pytest.raises(InputError, match="exited with code 1.*Failed to load model"):
        start_llamacpp_server(Path(bad), timeout_s=60)
