"""Schedulers: one registry for built-ins and plugins, one shared base."""

from __future__ import annotations

import pytest

from inferplan.sim import (
    SCHEDULERS,
    DeploymentSpec,
    SchedulerConfig,
    build_pool,
    get_workload,
    register_scheduler,
    simulate,
)
from inferplan.sim.schedulers import ContinuousBatching, Serial
from inferplan.sim.workload import with_overrides


def test_built_in_policies_register_like_plugins():
    assert SCHEDULERS["continuous"] is ContinuousBatching
    assert SCHEDULERS["serial"] is Serial


def test_a_plugin_policy_is_built_through_the_registry_with_the_pool():
    built = []

    class Counting(ContinuousBatching):
        def __init__(self, index, pool, role="both"):
            super().__init__(index, pool, role)
            built.append((index, pool.max_num_seqs, role))

    register_scheduler("counting", Counting)
    try:
        w = with_overrides(get_workload("chat"), rate=4)
        res = simulate("llama-3.1-8b", "h100-sxm", w, requests=50, replicas=2,
                       scheduler=SchedulerConfig(policy="counting", max_num_seqs=8))
    finally:
        SCHEDULERS.pop("counting")
    assert [b[0] for b in built] == [0, 1]
    assert all(b[1] == 8 and b[2] == "both" for b in built)
    assert res.pools[0].policy == "counting"
    assert res.metrics.completed == 50
    assert res.metrics.max_batch_size <= 8


def test_max_sequences_in_flight_come_from_the_pool_limits():
    w = with_overrides(get_workload("chat"), rate=30)
    pool = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm"), w,
                      SchedulerConfig(max_num_seqs=5))
    rep = pool.replica(0)
    assert rep.max_seqs == 5
    res = simulate("llama-3.1-8b", "h100-sxm", w, requests=200,
                   scheduler=SchedulerConfig(max_num_seqs=5))
    assert res.metrics.max_batch_size <= 5


def test_the_serial_policy_is_one_at_a_time():
    assert Serial.one_at_a_time and not ContinuousBatching.one_at_a_time
    w = with_overrides(get_workload("chat"), rate=20)  # far more than one request at a time
    res = simulate("llama-3.1-8b", "h100-sxm", w, requests=100,
                   scheduler=SchedulerConfig(policy="serial"))
    assert res.metrics.completed == 100 and res.metrics.max_batch_size == 1
    busy = simulate("llama-3.1-8b", "h100-sxm", w, requests=100).metrics
    assert busy.max_batch_size > 1  # the same load batches under continuous batching


def test_a_request_is_first_scheduled_at_a_poll_of_the_engines_socket():
    """SGLang --scheduler-recv-interval R: while sequences decode, a new request is read (and
    scheduled) only at decode steps whose clock is a multiple of R, so it waits about (R - 1) / 2
    more steps on average than with R = 1 (more, as requests read together prefill together)."""
    from inferplan.sim import Arrivals, LengthDist, Workload

    w = Workload(arrivals=Arrivals(kind="poisson", rate=8.0), input=LengthDist(value=500),
                 output=LengthDist(value=300))
    from inferplan.sim import SchedulerConfig

    runs = {}
    for r in (1, 30, 60):
        dep = DeploymentSpec(hardware="h100-sxm", engine="sglang",
                             engine_options={"scheduler_recv_interval": str(r)})
        # mixed steps: TPOT is then the decode step (prefill-first pauses would lengthen it)
        runs[r] = simulate("llama-3.1-8b", dep, w, requests=800, seed=3,
                           scheduler=SchedulerConfig(prefill_first=False)).metrics
    assert runs[1].completed == runs[30].completed == runs[60].completed == 800
    extra = {r: (runs[r].ttft_s.mean - runs[1].ttft_s.mean) / runs[1].tpot_s.mean for r in (30, 60)}
    # half an interval on average, a little more for the requests read together (~0.6 R here);
    # waiting a whole interval (R steps) would be a different poll
    assert (30 - 1) / 2 < extra[30] < 0.75 * 30
    assert extra[60] / extra[30] == pytest.approx(2.0, rel=0.15)  # the wait scales with R


def test_engine_options_set_the_pool_limits_as_in_estimate():
    w = with_overrides(get_workload("chat"), rate=4)
    pool = build_pool("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm", engine="vllm",
                                                     engine_options={"max_num_seqs": "24"}), w)
    assert pool.max_num_seqs == 24


def test_a_prefill_first_engine_pauses_its_decodes_and_keeps_fixed_length_clients_in_waves():
    """SGLang runs waiting prompts in steps of their own (EngineSpec.prefill_first): clients that
    start together with one prompt and one output length prefill all together, decode together
    and finish on one step, so every wave's requests wait for the whole wave's prefill (mean
    TTFT about half of it). With prompts riding in the decode steps (vLLM V1) the first wave's
    staggered first tokens spread the later waves out, and their TTFT falls to a few steps'."""
    from inferplan.sim import Arrivals, LengthDist, SchedulerConfig, Workload

    w = Workload(arrivals=Arrivals(kind="closed", users=64), input=LengthDist(value=1024),
                 output=LengthDist(value=256))
    dep = DeploymentSpec(hardware="h100-sxm", engine="sglang")
    runs = [simulate("llama-3.1-8b", dep, w, requests=64 * 6, seed=1, warmup=0.4, scheduler=cfg)
            for cfg in (None, SchedulerConfig(prefill_first=False))]
    assert runs[0].pools[0].prefill_first and not runs[1].pools[0].prefill_first
    first, mixed = (r.metrics for r in runs)
    assert first.completed == mixed.completed == 384
    assert first.ttft_s.mean > 2 * mixed.ttft_s.mean  # later waves (warmup leaves the first out)
    # the pauses sit before a wave's first tokens: its decode steps run uninterrupted
    assert first.tpot_s.mean < mixed.tpot_s.mean


def test_the_decode_pauses_of_a_prefill_first_engine_show_in_its_inter_token_latency():
    """A prompt step that holds the decodes back lengthens the gap to their next token: the ITL
    sample carries those gaps (its tail, p99, is several decode steps) and, every token counted
    once, its token-weighted mean matches the requests' TPOT."""
    from inferplan.sim import Arrivals, LengthDist, Workload

    w = Workload(arrivals=Arrivals(kind="poisson", rate=8.0), input=LengthDist(value=500),
                 output=LengthDist(value=300))
    m = simulate("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm", engine="sglang"), w,
                 requests=800, seed=3).metrics
    assert abs(m.itl_s.mean / m.tpot_s.mean - 1) < 0.03
    assert m.itl_s.p99 > 5 * m.itl_s.p50


def _trt_adp(options: dict[str, str], users: int, tp: int = 1, requests: int = 200):
    """DeepSeek-V3 on 8 H200s under TensorRT-LLM, attention DP over 8 ranks (tp=1, ep=8) or
    none (tp=8), closed-loop clients with fixed lengths."""
    from inferplan.sim import Arrivals, LengthDist, Workload

    w = Workload(arrivals=Arrivals(kind="closed", users=users), input=LengthDist(value=1000),
                 output=LengthDist(value=300))
    dep = DeploymentSpec(hardware="h200-sxm", engine="tensorrt-llm", devices=8, tp=tp, ep=8,
                         precision="fp8", engine_options=options)
    return simulate("deepseek-v3", dep, w, requests=requests, seed=1).metrics


def test_attention_dp_balance_holds_prompts_until_every_rank_has_one_or_the_timeout():
    """TensorRT-LLM attention_dp_config enable_balance, timeout_iters T: while sequences decode,
    new prompts wait until each of the ranks has one or T decode steps pass."""
    T = 40
    base, held = _trt_adp({}, users=4), _trt_adp({"adp_timeout_iters": str(T)}, users=4)
    extra = (held.ttft_s.mean - base.ttft_s.mean) / base.tpot_s.mean
    assert 0.6 * T < extra < T + 2  # 4 clients never fill 8 ranks: most wait out the timeout
    # with a backlog of more than 8 prompts waiting, every rank has one: no hold
    busy, busy_held = _trt_adp({}, users=64), _trt_adp({"adp_timeout_iters": str(T)}, users=64)
    assert (busy_held.ttft_s.mean - busy.ttft_s.mean) / busy.tpot_s.mean < 0.1 * T
    # one rank (no attention DP): nothing to balance
    one = _trt_adp({"adp_timeout_iters": str(T)}, users=4, tp=8)
    assert one.ttft_s.mean == _trt_adp({}, users=4, tp=8).ttft_s.mean
    # nothing decoding (one client, its next request after its answer): nothing is held
    alone = _trt_adp({"adp_timeout_iters": str(T)}, users=1, requests=20)
    assert alone.ttft_s.mean == _trt_adp({}, users=1, requests=20).ttft_s.mean


def test_batch_waiting_holds_prompts_until_their_tokens_fill_the_ratio_or_the_timeout():
    T = 40
    base = _trt_adp({}, users=4, tp=8)
    full = _trt_adp({"batch_wait_timeout_iters": str(T), "batch_wait_max_tokens_ratio": "0.9"},
                    users=4, tp=8)
    extra = (full.ttft_s.mean - base.ttft_s.mean) / base.tpot_s.mean
    assert 0.6 * T < extra < T + 2  # one 1,000-token prompt at a time never fills 90% of 8,192
    small = _trt_adp({"batch_wait_timeout_iters": str(T), "batch_wait_max_tokens_ratio": "0.1"},
                     users=4, tp=8)
    assert small.ttft_s.mean == pytest.approx(base.ttft_s.mean, rel=0.02)  # one prompt fills 10%
