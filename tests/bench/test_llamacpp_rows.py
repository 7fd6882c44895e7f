"""bench/llamacpp.py rows without running llama.cpp: the reliability grade of a busy machine."""

from __future__ import annotations


def test_rows_measured_on_a_busy_machine_are_graded_down():
    from inferplan.bench.llamacpp import LlamaCppPoint, _rows, reliability_for_background
    from inferplan.models.registry import get_model

    assert [reliability_for_background(x) for x in (0.0, 0.1, 0.2, 0.45)] == ["A", "A", "B", "C"]
    spec = get_model("llama-3.2-1b")
    point = dict(qtype="q4_0", bits_per_weight=4.5, file_bits_per_weight=4.9, file_bytes=10**8,
                 threads=2, prefill_tokens=64, prefill_tok_s=100.0, prefill_tok_s_std=1.0,
                 decode_tokens=16, decode_tok_s=10.0, decode_tok_s_std=0.1, discarded_reps=0,
                 write_s=1.0, load_s=1.0)
    quiet = _rows(LlamaCppPoint(**point, background_cpu=0.02), "m", "hw", "b1", 3, 0, spec, spec)
    busy = _rows(LlamaCppPoint(**point, background_cpu=0.45), "m", "hw", "b1", 3, 0, spec, spec)
    assert {r["reliability"] for r in quiet} == {"A"} and "reliability=" not in quiet[0]["notes"]
    assert {r["reliability"] for r in busy} == {"C"} and "45% of the CPU" in busy[0]["notes"]
