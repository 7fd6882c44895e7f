"""perf/batching.py: an offline run batches no more than its requests allow."""

import pytest

from inferplan.errors import InputError
from inferplan.perf.estimate import estimate, plan_estimate


def test_an_offline_run_of_n_requests_batches_at_most_n_per_replica():
    kw = dict(mode="offline", engine="tensorrt-llm", input_len=128, output_len=128)
    full = plan_estimate("llama-3.2-1b", "h100-sxm", **kw)
    assert full.batch == 2048  # TensorRT-LLM's max_batch_size: KV would hold more
    run = plan_estimate("llama-3.2-1b", "h100-sxm", requests=1000, **kw)
    assert run.batch == 1000
    assert "1,000 requests" in run.notes["offline_batch"]
    # a run longer than the largest batch changes nothing
    assert plan_estimate("llama-3.2-1b", "h100-sxm", requests=5000, **kw).batch == 2048


def test_the_requests_are_shared_by_the_replicas():
    kw = dict(mode="offline", engine="tensorrt-llm", input_len=128, output_len=128, tp=1,
              devices=4)
    p = plan_estimate("llama-3.2-1b", "h100-sxm", requests=1001, **kw)
    assert p.dep.layout.dp == 4
    assert p.seqs_per_replica == 251  # ceil(1001 / 4) per replica
    assert p.batch == 1001  # never more than the run's requests
    assert p.replicas_busy == pytest.approx(1001 / 251)


def test_fewer_sequences_than_replicas_leave_replicas_idle_not_split():
    """One request on 8 data-parallel replicas is one replica's work: its TTFT is one device's,
    not an eighth of it, and the system's throughput is that replica's."""
    one = estimate("llama-3.1-8b", "h100-sxm", input_len=1024, output_len=256)
    eight = estimate("llama-3.1-8b", "h100-sxm", devices=8, tp=1, input_len=1024, output_len=256)
    assert eight.dp == 8
    assert eight.ttft_s == pytest.approx(one.ttft_s, rel=1e-6)
    assert eight.output_tok_s == pytest.approx(one.output_tok_s, rel=1e-6)
    run = estimate("llama-3.1-8b", "h100-sxm", devices=8, tp=1, mode="offline", requests=1,
                   input_len=1024, output_len=256)
    assert run.batch == 1
    assert run.requests_per_s == pytest.approx(1 / run.e2e_latency_s, rel=1e-6)


def test_fewer_requests_give_less_throughput_where_decode_streams_the_weights():
    kw = dict(mode="offline", engine="tensorrt-llm", precision="fp8", tp=8, devices=8,
              input_len=128, output_len=1024)
    full = estimate("llama-3.1-70b", "h100-sxm", **kw)
    run = estimate("llama-3.1-70b", "h100-sxm", requests=500, **kw)
    assert run.batch == 500 < full.batch
    assert run.output_tok_s < 0.9 * full.output_tok_s


@pytest.mark.parametrize("mode", ["batch", "concurrency"])
def test_requests_apply_to_offline_runs_only(mode):
    with pytest.raises(InputError, match="offline"):
        plan_estimate("llama-3.2-1b", "h100-sxm", mode=mode, batch=4, requests=100)
    with pytest.raises(InputError, match=">= 1"):
        plan_estimate("llama-3.2-1b", "h100-sxm", mode="offline", requests=0)


def test_an_offline_run_of_n_requests_says_how_long_and_how_much():
    from inferplan.perf.batching import offline_run

    run = offline_run(1000, 10.0, 0.001, 500.0)
    assert run.text == "1,000 requests in ~100 s, $0.10, 0.0139 kWh"
    assert (run.seconds, run.usd, run.kwh) == pytest.approx((100.0, 0.1, 500.0 * 100 / 3.6e6))
    bare = offline_run(36000, 1.0, None, None)
    assert bare.text == "36,000 requests in ~10 h" and bare.usd is None and bare.kwh is None
    from inferplan.perf.cost import CostAssumptions

    kw = dict(mode="offline", engine="tensorrt-llm", input_len=128, output_len=128)
    e = estimate("llama-3.2-1b", "h100-sxm", requests=50_000,
                 cost=CostAssumptions(usd_per_hour=36.0), **kw)  # $0.01 per device-second
    run_s = 50_000 / e.requests_per_s
    note = e.assumptions["offline_run"]
    assert note.startswith("50,000 requests in ~")
    assert f"${0.01 * e.devices * run_s:,.2f}" in note  # the device price x the run's time
    assert "offline_run" not in estimate("llama-3.2-1b", "h100-sxm", **kw).assumptions


def test_a_short_offline_run_uses_no_more_replicas_than_it_can_fill():
    """One request on 8 L4s runs on one TP8 replica, not on one of four TP2 replicas; a longer
    run takes smaller replicas with room for a batch (Llama-3.1-8B: TP4 x 2 for 100 requests,
    TP2 x 4 for a long run: a TP1 replica's ~5 GB of KV holds ~30 sequences). Whatever the run,
    the layout chosen is within 5% of the best the estimate itself finds among the TPs."""
    from inferplan.perf.estimate import estimate

    kw = dict(mode="offline", devices=8, input_len=1024, output_len=256)
    lays = [plan_estimate("llama-3.1-8b", "l4", requests=n, **kw).dep.layout for n in (1, 3, 100, None)]
    assert [(lay.tp, lay.dp) for lay in lays] == [(8, 1), (8, 1), (4, 2), (2, 4)]
    for n, lay in zip((1, 3, 100, None), lays, strict=True):
        rates = {t: estimate("llama-3.1-8b", "l4", requests=n, tp=t, **kw).output_tok_s for t in (1, 2, 4, 8)}
        assert rates[lay.tp] >= 0.95 * max(rates.values())
