"""Every bundled device answers every mode with an estimate or a typed error, never a crash
(an offline run on an engine without continuous batching once raised OverflowError)."""

from __future__ import annotations

import math

import pytest

from inferplan.catalog.hardware import hardware_catalog
from inferplan.errors import InferplanError
from inferplan.perf.estimate import estimate

MODES = [dict(mode="batch", batch=1), dict(mode="concurrency", batch=8), dict(mode="offline")]


@pytest.mark.parametrize("hw", sorted(hardware_catalog()))
def test_each_mode_estimates_or_explains(hw):
    for kw in MODES:
        try:
            e = estimate("llama-3.2-1b", hw, input_len=512, output_len=64, **kw)
        except InferplanError:
            continue
        if e.fits:
            assert e.tpot_s is not None and math.isfinite(e.tpot_s) and e.tpot_s > 0, (hw, kw)
            assert e.output_tok_s is not None and e.output_tok_s > 0, (hw, kw)
