"""llama.cpp server slots (perf/slots.py): --parallel N with continuous batching across slots."""

from __future__ import annotations

import pytest

from inferplan.errors import InputError
from inferplan.perf.estimate import estimate, plan_estimate
from inferplan.perf.slots import LLAMA_SERVER_DEFAULT_SLOTS
from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload, simulate

KW = dict(precision="q4_0", mode="concurrency", input_len=64, output_len=32)


def test_default_is_llama_servers_four_slots():
    assert LLAMA_SERVER_DEFAULT_SLOTS == 4
    plan = plan_estimate("llama-3.2-1b", "ryzen-9-7950x", batch=4, **KW)
    assert plan.dep.engine.max_num_seqs == 4 and plan.dep.engine.continuous_batching
    assert "4 server slots" in plan.notes["slots"]


def test_four_clients_on_four_slots_get_more_tokens_than_one_and_wait_for_no_one():
    one = estimate("llama-3.2-1b", "ryzen-9-7950x", batch=1, **KW)
    four = estimate("llama-3.2-1b", "ryzen-9-7950x", batch=4, **KW)
    serial = estimate("llama-3.2-1b", "ryzen-9-7950x", batch=4, slots=1, **KW)
    assert four.output_tok_s > 2.5 * one.output_tok_s  # decode is bandwidth bound: batching is ~free
    assert four.ttft_s < 2 * one.ttft_s < serial.ttft_s
    assert serial.output_tok_s == pytest.approx(one.output_tok_s, rel=0.05)


def test_clients_beyond_the_slots_queue():
    four = estimate("llama-3.2-1b", "ryzen-9-7950x", batch=4, **KW)
    sixteen = estimate("llama-3.2-1b", "ryzen-9-7950x", batch=16, **KW)
    server = four.assumptions["request_overhead_s"]["value"]  # paid once: it overlaps the wait
    assert sixteen.e2e_latency_s == pytest.approx(4 * (four.e2e_latency_s - server) + server, rel=0.01)
    assert "queueing" in sixteen.assumptions


def test_simulator_batches_across_slots():
    w = Workload(arrivals=Arrivals(kind="closed", users=4), input=LengthDist(value=64),
                 output=LengthDist(value=16))
    four = simulate("llama-3.2-1b", DeploymentSpec(hardware="ryzen-9-7950x", slots=4), w, requests=200)
    one = simulate("llama-3.2-1b", DeploymentSpec(hardware="ryzen-9-7950x", slots=1), w, requests=200)
    assert four.pools[0].policy == "continuous" and four.pools[0].max_num_seqs == 4
    assert one.pools[0].policy == "serial"
    assert four.metrics.max_batch_size == 4
    assert four.metrics.e2e_s.p50 < 0.5 * one.metrics.e2e_s.p50


def test_slots_are_for_llama_cpp_only():
    with pytest.raises(InputError, match="no slots"):
        plan_estimate("llama-3.1-8b", "h100-sxm", slots=4)
    with pytest.raises(InputError, match="between 1 and"):
        plan_estimate("llama-3.2-1b", "ryzen-9-7950x", slots=0)
