"""Every bundled device answers every mode with an estimate or a typed error, never a crash
(an offline run on an engine without continuous batching once raised OverflowError)."""

from __future__ import annotations

import math

import pytest

from inferplan.catalog.hardware import hardware_catalog
from inferplan.errors import InferplanError
from inferplan.perf.estimate import estimate

MODES = [dict(mode="batch", batch=1), dict(mode="concurrency", batch=8), dict(mode="offline")]


def _bundled_ids() -> list[str]:
    """The bundled catalog's ids (collection runs before the hermetic home is set: a user's
    ~/.inferplan/hardware would add entries the tests cannot see)."""
    import os
    import tempfile

    old = os.environ.get("INFERPLAN_HOME")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["INFERPLAN_HOME"] = empty
        try:
            return sorted(hardware_catalog())
        finally:
            if old is None:
                os.environ.pop("INFERPLAN_HOME", None)
            else:
                os.environ["INFERPLAN_HOME"] = old


@pytest.mark.parametrize("hw", _bundled_ids())
def test_each_mode_estimates_or_explains(hw):
    answered = 0
    for kw in MODES:
        try:
            e = estimate("llama-3.2-1b", hw, input_len=512, output_len=64, **kw)
        except InferplanError:
            continue
        answered += e.fits
        if e.fits:
            assert e.tpot_s is not None and math.isfinite(e.tpot_s) and e.tpot_s > 0, (hw, kw)
            assert e.output_tok_s is not None and e.output_tok_s > 0, (hw, kw)
    assert answered, f"{hw}: no mode gave an estimate of a 1B model"
