"""Number and duration formats (units.py): never exponents, long durations in hours or days."""

from __future__ import annotations

from inferplan.units import fmt_num, fmt_time_s


def test_durations_pick_a_readable_unit():
    got = [fmt_time_s(x) for x in (5e-6, 0.02, 3.2, 250, 3600, 131_087, 1e6, 1e7, 1e9, None)]
    assert got == ["5 µs", "20 ms", "3.20 s", "250 s", "1 h", "36.4 h", "11.6 days", "116 days",
                   "11,574 days", "-"]
    assert not any("e+" in fmt_time_s(10.0 ** k) or "e-" in fmt_time_s(10.0 ** k) for k in range(-15, 15))
    assert fmt_time_s(7.07e-15) == "0 µs" and fmt_time_s(2e-8) == "20 ns"


def test_numbers_use_separators_and_si_prefixes_never_exponents():
    assert [fmt_num(x) for x in (0.123, 12.34, 30_573, 1.26e6, 4.5e-5)] == [
        "0.123", "12.3", "30,573", "1.26 M", "45 µ"]


def test_one_layout_label_everywhere() -> None:
    from inferplan.units import fmt_layout

    assert fmt_layout(8) == "tp8"
    assert fmt_layout(1, 1, 4) == "tp1 ep4"  # expert parallelism is never dropped (report cells did)
    assert fmt_layout(4, 2, None, 3) == "tp4 pp2 x3"
