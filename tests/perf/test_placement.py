from inferplan.perf.estimate import estimate, plan_estimate
from inferplan.perf.layout import Layout
from inferplan.perf.memory import max_sequences
from inferplan.perf.placement import offline_rate_at_priors


def _offline(tp=None, **kw):
    return plan_estimate("llama-3.1-70b", "h100-sxm", engine="vllm", precision="fp8", devices=8,
                         tp=tp, mode="offline", input_len=1024, output_len=512, **kw)


def test_offline_on_given_devices_takes_the_layout_with_room_for_a_batch():
    """70B FP8 on one H100 leaves ~2 GB of KV: a TP1 replica holds a handful of 1.5k-token
    sequences and streams its 70 GB of weights for them every step. Offline on 8 GPUs the
    layout is chosen by throughput at peak, not by the smallest replica that holds one
    sequence, and the estimate is several times the TP1 one."""
    tp1 = _offline(tp=1)
    assert max_sequences(tp1.dep, 1024 + 256, 1024) < 8
    auto = _offline()
    assert auto.dep.layout.tp > 1 and "devices given" in auto.notes["layout"]
    rates = {t: offline_rate_at_priors(_offline(tp=t).dep, 1024, 512) for t in (1, 2, 4, 8)}
    assert rates[1] < rates[2] / 3
    assert rates[auto.dep.layout.tp] >= max(rates.values()) / 1.05
    kw = dict(model="llama-3.1-70b", hardware="h100-sxm", engine="vllm", precision="fp8",
              devices=8, mode="offline", input_len=1024, output_len=512)
    out_auto = estimate(**kw).output_tok_s
    out_tp1 = estimate(**kw, tp=1).output_tok_s
    assert out_auto > 3 * out_tp1


def test_offline_rate_counts_only_the_replicas_a_short_run_keeps_busy():
    """One request on 8 GPUs: 8 TP1 replicas run one sequence on one of them, so the rate is
    that replica's and TP8 (the whole node on the one sequence) ranks above it."""
    one = {t: offline_rate_at_priors(_offline(tp=t, requests=1).dep, 1024, 512, requests=1)
           for t in (2, 8)}
    assert one[8] > one[2]
    assert _offline(requests=1).dep.layout == Layout(tp=8, dp=1)
