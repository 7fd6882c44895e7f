"""calib/spread.py: offline runs with spread-out request lengths, replayed in the simulator."""

from __future__ import annotations

import pytest

from inferplan.calib.spread import (
    DATASETS,
    SPREAD_REQUESTS,
    LengthSpread,
    dataset_of,
    length_spread_factor,
    prompts_sent,
    stated_requests,
)
from inferplan.perf.estimate import plan_estimate


def _dep():
    return plan_estimate("llama-3.1-8b", "h100-sxm", mode="offline", input_len=219, output_len=201).dep


def test_mean_lengths_replay_the_estimate_and_a_wide_spread_loses_throughput_to_the_tail():
    fixed = LengthSpread(0.0, 0.0, 1024, 2048, "test")
    assert length_spread_factor(_dep(), 219, 201, fixed, requests=300) == pytest.approx(1.0)
    wide = LengthSpread(0.0, 1.0, 1024, 2048, "test")  # outputs only: CV ~1.3
    factor = length_spread_factor(_dep(), 219, 201, wide, requests=1000)
    assert 0.3 < factor < 0.85  # the last long requests decode at a small batch


def test_the_notes_name_the_dataset_and_the_prompt_count():
    assert "sharegpt" in DATASETS and DATASETS["sharegpt"].source
    assert dataset_of("vllm bench serve --dataset-name sharegpt, openai-chat backend") == "sharegpt"
    assert dataset_of("dataset=sharegpt; date=2025") == "sharegpt"
    assert dataset_of("--dataset-name random") is None
    assert prompts_sent("Total input tokens 219171 / generated 200752 over 1000 successful requests") == 1000
    assert prompts_sent("python -m sglang.bench_serving --num-prompts 5000") == 5000
    assert prompts_sent("trtllm-bench throughput; requests=1000 (all queued)") == 1000
    assert prompts_sent("no count here") == SPREAD_REQUESTS
    assert stated_requests("no count here") is None
    assert stated_requests("max_requests=4") is None  # another key, not the run's count


def test_a_sharegpt_offline_row_is_predicted_with_its_length_spread():
    from inferplan.calib.corpus import load_bundled

    rows = {r.id: r for r in load_bundled() if r.source == "gpustack-perf-lab"}
    sharegpt, random = rows["gpl-068"], rows["gpl-073"]  # DeepSeek-R1 on 8 H200, vLLM
    assert sharegpt.spread < 0.8 and any("sharegpt lengths" in n for n in sharegpt.notes)
    assert random.spread == 1.0  # the random dataset's lengths are near-fixed
