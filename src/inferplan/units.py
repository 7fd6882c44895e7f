"""Unit constants and human formatting. SI throughout: bytes, seconds, FLOP/s, watts, USD."""

from __future__ import annotations

import math

KB = 1e3
MB = 1e6
GB = 1e9
TB = 1e12
GIB = 2**30
TFLOPS = 1e12
US = 1e-6
MS = 1e-3
HOUR_S = 3600.0
YEAR_S = 365 * 24 * HOUR_S
KWH_J = 3.6e6  # joules per kilowatt-hour


def fmt_bytes(n: float | None) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    for unit, scale in (("TB", TB), ("GB", GB), ("MB", MB), ("KB", KB)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_time_s(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return "-"
    if t >= 100:
        return f"{t:.0f} s"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} µs"


def fmt_num(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if abs(x) >= 1e4:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"
