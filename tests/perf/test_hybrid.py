"""Hybrid linear-attention models (gated DeltaNet + attention, perf over models/spec.py)."""

from __future__ import annotations

import pytest

from inferplan.models.adapters import spec_from_hf_config
from inferplan.perf.efficiency import load_efficiency
from inferplan.perf.estimate import estimate_from_plan, plan_estimate
from tests.models.hybrid_configs import QWEN3_NEXT


def _plan(cfg: dict, **kw):
    return plan_estimate(spec_from_hf_config(cfg, "hybrid"), "h200-sxm", devices=8, tp=8, **kw)


def test_a_long_context_costs_a_quarter_of_the_all_attention_kv_plus_a_constant_state():
    """12 of 48 layers keep a KV cache; the 36 DeltaNet layers hold 32 x 128 x 128 (+ conv cache)
    per sequence whatever the context. Per device under TP8: the 2 KV heads are replicated 4 ways
    (each device keeps half the KV), the DeltaNet heads split 8 ways."""
    kw = dict(mode="batch", batch=8, input_len=32768, output_len=1)
    hybrid = _plan(QWEN3_NEXT, **kw).mem.kv_cache_bytes
    full = _plan({**QWEN3_NEXT, "layer_types": ["full_attention"] * 48}, **kw).mem.kv_cache_bytes
    expected = (12 * 1024 * 32768 / 2 + 36 * (32 * 128 * 128 + 3 * 8192) / 8) / (48 * 1024 * 32768 / 2)
    assert hybrid / full == pytest.approx(expected, rel=0.02)


def test_decode_reads_and_writes_the_recurrent_state_every_step():
    """At a short context the state dominates what a DeltaNet layer reads per sequence: doubling
    the sequences adds the state traffic, so the step slows although the weights are shared."""
    eff = load_efficiency()
    one = estimate_from_plan(_plan(QWEN3_NEXT, mode="batch", batch=64, input_len=128, output_len=128), eff)
    no_state = {**QWEN3_NEXT, "linear_num_value_heads": 32, "linear_value_head_dim": 1}
    small = estimate_from_plan(_plan(no_state, mode="batch", batch=64, input_len=128, output_len=128), eff)
    assert one.fits and small.fits
    assert one.tpot_s > small.tpot_s
