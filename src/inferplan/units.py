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
    if t >= 86400 * 100:
        return f"{t / 86400:,.0f} days"
    if t >= 86400 * 2:
        return f"{t / 86400:.3g} days"
    if t >= 3600:
        return f"{t / 3600:.3g} h"
    if t >= 100:
        return f"{t:.0f} s"
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    if abs(t) < 5e-10:  # below a nanosecond: rounding noise of time sums, shown as zero
        return "0 µs"
    if t >= 1e-6:
        return f"{t * 1e6:.3g} µs"
    return f"{t * 1e9:.3g} ns"


_SI_LARGE = (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6))
_SI_SMALL = (("m", 1e-3), ("µ", 1e-6), ("n", 1e-9), ("p", 1e-12))


def fmt_num(x: float | None, digits: int = 3, unit: str = "") -> str:
    """One number format: ``0.123``, ``12.3``, ``30,573``, ``1.26 M``, ``45 µ`` (+ unit).

    Below 1,000: ``digits`` significant digits; 1,000 to a million: thousands separators;
    beyond, or below 0.001: an SI prefix. Never exponent notation."""
    if x is None or not math.isfinite(x):
        return "-"
    sep = " " if unit else ""
    a = abs(x)
    if a == 0:
        return f"0{sep}{unit}"
    for p, scale in _SI_LARGE:
        if a >= scale * 0.9995:
            return f"{x / scale:.{digits}g} {p}{unit}"
    if a >= 999.5:
        return f"{x:,.0f}{sep}{unit}"
    if a >= 1e-3:
        return f"{x:.{digits}g}{sep}{unit}"
    for p, scale in _SI_SMALL[1:]:
        if a >= scale * 0.9995:
            return f"{x / scale:.{digits}g} {p}{unit}"
    return f"{x / 1e-12:.{digits}g} p{unit}"


def fmt_layout(tp: int, pp: int = 1, ep: int | None = 1, dp: int = 1) -> str:
    """One layout label: ``tp8``, ``tp4 pp2``, ``tp1 ep8``, ``tp8 x2`` (x: data-parallel replicas);
    a parallel degree of 1 other than TP is left out."""
    return (f"tp{tp}" + (f" pp{pp}" if pp > 1 else "") + (f" ep{ep}" if (ep or 1) > 1 else "")
            + (f" x{dp}" if dp > 1 else ""))
