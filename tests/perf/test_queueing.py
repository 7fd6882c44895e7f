"""perf/queueing.py: a served prompt's wait behind the other clients' prompts."""

import numpy as np
import pytest

from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import evaluate_plan, plan_estimate
from inferplan.perf.factors import resolve_factors
from inferplan.perf.queueing import RHO_MAX, prefill_queue_s, served_cycle_s


def test_md1_wait_with_the_finite_source_correction():
    # rho = 0.5, S = P/n = 0.1 s: M/D/1 wait rho/(2(1-rho)) S = 0.05 s, times (n-1)/n = 0.9
    assert prefill_queue_s(1.0, 2.0, 10) == pytest.approx(0.05 * 0.9)
    assert prefill_queue_s(1.0, 2.0, 1) == 0.0  # one client never waits for itself
    assert prefill_queue_s(0.0, 2.0, 10) == 0.0 and prefill_queue_s(-0.1, 2.0, 10) == 0.0


def test_the_wait_grows_with_the_prompts_share_and_is_capped_near_saturation():
    shares = np.array([0.1, 0.3, 0.6, 0.9, 0.99])
    w = prefill_queue_s(shares, np.ones(5), np.full(5, 16.0))
    assert np.all(np.diff(w) >= 0)
    cap = RHO_MAX / (2 * (1 - RHO_MAX))  # the utilization factor stops growing at RHO_MAX
    assert w[-1] == pytest.approx(cap * (0.99 / 16) * 15 / 16)  # S = P / n still grows
    assert w[-2] == pytest.approx(cap * (0.9 / 16) * 15 / 16)


def test_served_cycle_is_linear_and_counts_the_riders_as_decode_steps():
    busy, prompt = served_cycle_s(0.3, 0.05, groups=4, group_steps=2, output_len=101)
    # 4 groups of prompt steps, then 100 - 3*2 = 94 decode steps
    assert busy == pytest.approx(4 * 0.3 + 94 * 0.05)
    assert prompt == pytest.approx(4 * (0.3 - 2 * 0.05))
    b1, p1 = served_cycle_s(1.0, 0.0, 4, 2, 101)
    b2, p2 = served_cycle_s(0.0, 1.0, 4, 2, 101)
    assert busy == pytest.approx(0.3 * b1 + 0.05 * b2) and prompt == pytest.approx(0.3 * p1 + 0.05 * p2)


def _ttft(batch, input_len, queue_s=None):
    plan = plan_estimate("deepseek-r1", "h200-sxm", devices=8, engine="sglang", mode="concurrency",
                         batch=batch, input_len=input_len, output_len=922)
    f, _ = resolve_factors(plan.dep, load_efficiency())
    return evaluate_plan(plan, f, queue_s)["ttft_s"]


def test_served_ttft_pays_the_wait_where_prompts_collide():
    one = _ttft(1, 7373)
    assert one == pytest.approx(_ttft(1, 7373, queue_s=0.0))  # alone: nothing ahead
    small, busy = (_ttft(c, i) - _ttft(c, i, queue_s=0.0) for c, i in ((4, 922), (64, 7373)))
    assert 0 < small < 0.01 < 0.05 < busy < 0.5  # ~2 ms vs ~140 ms (docs/metrics.md)


def test_offline_runs_pay_no_collision_wait():
    plan = plan_estimate("llama-3.1-8b", "h100-sxm", mode="offline", batch=64, input_len=2048, output_len=128)
    f, _ = resolve_factors(plan.dep, load_efficiency())
    assert evaluate_plan(plan, f)["ttft_s"] == evaluate_plan(plan, f, queue_s=5.0)["ttft_s"]


def test_prompts_of_one_group_do_not_collide_again():
    # O < n: the cycle prefills n / O prompts as one group, whose own waiting is in its time;
    # prefill-only clients (O = 1) are one group, so no collision wait is added on top
    plan = plan_estimate("qwen3-8b", "h100-sxm", engine="vllm", mode="concurrency", batch=8,
                         input_len=512, output_len=1)
    assert plan.cycle["groups"] == 1
    f, _ = resolve_factors(plan.dep, load_efficiency())
    assert evaluate_plan(plan, f)["ttft_s"] == evaluate_plan(plan, f, queue_s=0.0)["ttft_s"]
    # four groups of two: the wait is the M/D/1 one of four arriving groups, not of eight clients
    four = plan_estimate("qwen3-8b", "h100-sxm", engine="vllm", mode="concurrency", batch=8,
                         input_len=512, output_len=4)
    assert four.cycle["groups"] == 4
    t = {k: w.total_time_s(f) for k, w in four.works.items()}
    busy, prompt = served_cycle_s(t["prefill"], t["decode"], 4, int(np.size(four.works["prefill"].t_link)), 4)
    wait = evaluate_plan(four, f)["ttft_s"] - evaluate_plan(four, f, queue_s=0.0)["ttft_s"]
    assert wait == pytest.approx(prefill_queue_s(prompt, busy, 4), rel=1e-9)
    assert wait != pytest.approx(prefill_queue_s(prompt, busy, 8), rel=1e-3)


def test_served_latency_grows_with_clients_across_the_token_budget_cap():
    # a 2,048-token budget sustains 2048 x 16 / (1024 + 16) ~ 31.5 running sequences; the
    # clients beyond it queue, and neither TTFT nor E2E may drop where that starts
    def metrics(clients):
        plan = plan_estimate("qwen3-8b", "h100-sxm", engine="sglang", mode="concurrency", batch=clients,
                             input_len=1024, output_len=16,
                             engine_options={"max_num_batched_tokens": 2048, "max_num_seqs": 256})
        f, _ = resolve_factors(plan.dep, load_efficiency())
        return plan.queue_factor, evaluate_plan(plan, f)

    (q_below, below), (q_above, above) = metrics(31), metrics(33)
    assert q_below == 1.0 < q_above
    assert above["ttft_s"] >= below["ttft_s"] and above["e2e_latency_s"] >= below["e2e_latency_s"]
    assert above["requests_per_s"] == pytest.approx(below["requests_per_s"], rel=0.1)
