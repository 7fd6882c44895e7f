import pytest

from inferplan.catalog.engines import get_engine, with_engine_options
from inferplan.catalog.schema import Admission
from inferplan.errors import InputError
from inferplan.perf.admission import admission_wait_steps
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import estimate, plan_estimate
from inferplan.perf.factors import resolve_factors


def test_engines_schedule_new_requests_at_the_next_step_by_default():
    for e in ("vllm", "sglang", "tensorrt-llm"):
        assert admission_wait_steps(get_engine(e).admission, 64, 1024, 1024, 8, 8192) == 0.0


def test_polling_and_back_to_back_decode_wait_half_their_interval():
    assert admission_wait_steps(Admission(recv_interval_steps=30), 64, 922, 922, 1, 8192) == 14.5
    assert admission_wait_steps(Admission(continuous_decode_steps=4), 64, 922, 922, 1, 8192) == 1.5


def held_mean(window: float, rate: float) -> float:
    """The opener of a hold waits all of it, the rate x window arrivals during it half of it."""
    n = rate * window
    return (window + n * window / 2) / (1 + n)


def test_attention_dp_balance_waits_for_every_rank_or_the_timeout():
    """64 clients emitting 922 tokens each: 64/922 arrivals per step; the 7 more that fill 8
    ranks take 101 steps > the 60-step timeout: the hold lasts 60 steps, its opener waits all of
    them and the ~4.2 arrivals during it 30 on average; without attention-DP (one rank) none."""
    adm = Admission(adp_balance_timeout_steps=60)
    rate = 64 / 922
    assert admission_wait_steps(adm, 64, 922, 922, 8, 8192) == pytest.approx(held_mean(60, rate))
    assert 30 < admission_wait_steps(adm, 64, 922, 922, 8, 8192) < 37
    # 512 clients fill the 8 ranks in 7 / (512 / 922) = 12.6 steps, before the timeout
    fast = 512 / 922
    assert admission_wait_steps(adm, 512, 922, 922, 8, 8192) == pytest.approx(held_mean(7 / fast, fast))
    assert admission_wait_steps(adm, 64, 922, 922, 1, 8192) == 0.0


def test_batch_wait_holds_prompts_until_the_token_threshold_or_the_timeout():
    adm = Admission(batch_wait_timeout_steps=40, batch_wait_max_tokens_ratio=0.8)
    fill = 0.8 * 8192 / (64 / 922 * 922)  # 102 steps to queue 80% of the budget: the timeout binds
    assert admission_wait_steps(adm, 64, 922, 922, 1, 8192) == pytest.approx(held_mean(40, 64 / 922))
    assert fill > 40
    quick = 0.8 * 8192 / (2048 * 922 / 922)  # 3.2 steps with 2,048 clients: the threshold binds
    assert admission_wait_steps(adm, 2048, 922, 922, 1, 8192) == pytest.approx(held_mean(quick, 2048 / 922))


def test_an_admission_wait_adds_decode_steps_to_the_ttft_only():
    kw = dict(devices=8, tp=8, mode="concurrency", batch=64, input_len=922, output_len=922, engine="sglang")
    base = estimate("deepseek-r1", "b200", **kw)
    polled = estimate("deepseek-r1", "b200", engine_options={"scheduler_recv_interval": 30}, **kw)
    assert polled.tpot_s == pytest.approx(base.tpot_s)
    plan = plan_estimate("deepseek-r1", "b200", **kw)
    step_s = plan.works["decode"].total_time_s(resolve_factors(plan.dep, load_efficiency())[0])
    assert polled.ttft_s - base.ttft_s == pytest.approx(14.5 * step_s, rel=1e-6)
    assert polled.requests_per_s < base.requests_per_s  # the waiting request holds no slot
    assert "scheduler recv interval 30" in polled.assumptions["admission"]


def test_engine_options_take_the_engines_own_spellings_and_refuse_unknown_ones():
    trt = with_engine_options(get_engine("tensorrt-llm"), {"max_batch_size": "896", "max_num_tokens": 8448,
                                                           "adp_timeout_iters": "60"})
    assert (trt.max_num_seqs, trt.prefill_chunk_tokens, trt.admission.adp_balance_timeout_steps) == (896, 8448, 60)
    assert with_engine_options(get_engine("sglang"), {"--scheduler-recv-interval": "10"}).admission.recv_interval_steps == 10
    with pytest.raises(InputError, match="did you mean 'scheduler_recv_interval'"):
        with_engine_options(get_engine("sglang"), {"scheduler_recv_intervl": "10"})
    with pytest.raises(InputError, match="not a number"):
        with_engine_options(get_engine("sglang"), {"max_num_seqs": "many"})
    with pytest.raises(InputError, match="memory_utilization: Input should be less than or equal to 1"):
        with_engine_options(get_engine("sglang"), {"memory_utilization": "1.5"})


@pytest.mark.parametrize("raw,why", [("8.7", "not a whole number"), ("inf", "not a finite number"),
                                     ("nan", "not a finite number")])
def test_counting_engine_options_refuse_fractions_and_non_finite_values(raw, why):
    with pytest.raises(InputError, match=why):
        with_engine_options(get_engine("vllm"), {"max_num_seqs": raw})
    assert with_engine_options(get_engine("vllm"), {"max_num_seqs": "8.0"}).max_num_seqs == 8


def test_an_out_of_range_option_is_named_as_the_user_named_it():
    with pytest.raises(InputError, match=r"^engine option scheduler_recv_interval: Input should be greater"):
        with_engine_options(get_engine("sglang"), {"scheduler_recv_interval": "0"})
    with pytest.raises(InputError, match=r"^engine option max_num_batched_tokens: "):
        with_engine_options(get_engine("vllm"), {"max_num_batched_tokens": "0"})
