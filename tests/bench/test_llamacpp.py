"""llama.cpp on synthetic GGUF models: measured rows for every type, and validate predicts them."""

from __future__ import annotations

import pytest

from inferplan.bench.rows import write_rows
from inferplan.calib.dataset import COLUMNS
from inferplan.calib.validate import validate_csv
from inferplan.errors import InputError

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from inferplan.bench.llamacpp import run_llamacpp_bench  # noqa: E402

QTYPES = ("f16", "q8_0", "q4_0", "tq2_0", "tq1_0")


def test_tiny_model_gives_rows_for_every_type_and_validate_predicts_each(tmp_path, tiny_config, this_machine):
    res = run_llamacpp_bench(str(tiny_config), hardware=this_machine, qtypes=QTYPES, threads=(2,),
                             prefill_tokens=32, decode_tokens=8, reps=1)
    assert [p.qtype for p in res.points] == list(QTYPES)
    assert all(p.prefill_tok_s > 0 and p.decode_tok_s > 0 for p in res.points)
    sizes = {p.qtype: p.file_bytes for p in res.points}
    assert sizes["f16"] > sizes["q8_0"] > sizes["q4_0"] > sizes["tq2_0"] > sizes["tq1_0"]
    assert len(res.rows) == 2 * len(QTYPES)
    row = next(r for r in res.rows if r["id"] == "llamacpp-q4_0-t2-tg8")
    assert set(row) == set(COLUMNS)
    assert (row["metric"], row["input_len"], row["output_len"], row["engine"], row["hardware_id"],
            row["kv_precision"]) == ("decode_tok_s_per_user", "0", "8", "llama.cpp", "this-machine", "f16")
    assert "threads=2" in row["notes"] and "engine_version=llama-cpp-python" in row["notes"]
    # a config outside the catalog travels with the CSV, referenced relative to it
    assert res.model_ref == "tiny-llama.json" and set(res.configs) == {"tiny-llama.json"}
    out = tmp_path / "data" / "rows.csv"
    write_rows(res.rows, out, res.configs)
    rep = validate_csv(out)
    assert all(v.status in ("ok", "over_2x") for v in rep.rows), [v.error for v in rep.rows]  # predicted
    assert all(v.predicted > 0 for v in rep.rows)


def test_shrunken_catalog_model_rows_reference_the_shrunken_config(tmp_path, this_machine):
    res = run_llamacpp_bench("llama-3.2-1b", hardware=this_machine, qtypes=("q4_0",), layers=1,
                             vocab=512, threads=(1,), prefill_tokens=16, decode_tokens=4, reps=1)
    assert res.model_ref == "llama-3.2-1b-1l-v512.json" and res.layers == 1
    assert {r["model_id"] for r in res.rows} == {res.model_ref}
    rep = validate_csv(write_rows(res.rows, tmp_path / "rows.csv", res.configs))
    assert all(v.status in ("ok", "over_2x") for v in rep.rows), [v.error for v in rep.rows]


@pytest.mark.parametrize("kw,needle", [
    (dict(qtypes=("q5_k",)), "unknown qtype"),
    (dict(hardware="h100-sxm"), "runs on this CPU"),
    (dict(threads=(0,)), ">= 1"),
])
def test_bad_requests_are_input_errors(tiny_config, this_machine, kw, needle):
    kw = {"hardware": this_machine, **kw}
    with pytest.raises(InputError, match=needle):
        run_llamacpp_bench(str(tiny_config), **kw)


def test_repetitions_disturbed_by_other_processes_are_run_again(monkeypatch):
    from inferplan.bench import llamacpp

    shares = iter([0.5, 0.02, 0.4, 0.01, 0.03])

    class FakeLoad:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.share = next(shares)

    monkeypatch.setattr(llamacpp, "BackgroundLoad", FakeLoad)
    rates = iter([10.0, 20.0, 11.0, 21.0, 22.0])
    t = llamacpp.quiet_reps(lambda: next(rates), reps=3, max_background=0.1, max_tries=9)
    assert t.tries == 5 and sorted(t.rates) == [20.0, 21.0, 22.0] and max(t.background) <= 0.03
    shares = iter([0.5, 0.6, 0.7])  # never quiet: keep the quietest after max_tries
    t = llamacpp.quiet_reps(lambda: 1.0, reps=2, max_background=0.1, max_tries=3)
    assert t.tries == 3 and t.background == [0.5, 0.6]


def test_a_crashing_child_is_reported_not_fatal():
    import math
    import os

    from inferplan.bench.llamacpp import ChildCrashed, run_isolated, signal_name

    assert run_isolated(math.sqrt, 16.0) == 4.0
    assert (signal_name(11), signal_name(99)) == ("SIGSEGV", "signal 99")
    with pytest.raises(ChildCrashed, match="SIGABRT"):  # the parent carries on
        run_isolated(os.abort)
    with pytest.raises(ValueError):
        run_isolated(math.sqrt, -1.0)
    with pytest.raises(InputError, match="code 3"):  # an exit, not a crash
        run_isolated(os._exit, 3)
    with pytest.raises(InputError, match="within 1 s"):
        run_isolated(__import__("time").sleep, 30, timeout_s=1)
    # an exception that does not survive pickling comes back as its message
    with pytest.raises(InputError, match="UnknownIdError"):
        run_isolated(_raise_unknown_id)


def _raise_unknown_id():
    from inferplan.errors import UnknownIdError

    raise UnknownIdError("model", "nope", ["llama-3.1-8b"])


def _repacking_flag_after_disabling() -> bool:
    import llama_cpp.llama_cpp as lc

    from inferplan.bench.llamacpp import disable_weight_repacking

    before = bool(lc.llama_model_default_params().use_extra_bufts)
    disable_weight_repacking()
    return before and not lc.llama_model_default_params().use_extra_bufts


def test_weight_repacking_can_be_turned_off_in_a_child():
    from inferplan.bench.llamacpp import run_isolated

    assert run_isolated(_repacking_flag_after_disabling) is True


def _fake_measure(crashes_with_repack: bool, crashes_without: bool = False):
    from inferplan.bench.llamacpp import ChildCrashed, Timed

    calls = []

    def measure(path, *, repack=True, **kw):
        calls.append(repack)
        if (repack and crashes_with_repack) or (not repack and crashes_without):
            raise ChildCrashed(11)
        t = Timed(rates=[100.0], background=[0.0], tries=1)
        return t, t, 0.1
    return measure, calls


def test_a_model_that_crashes_llama_cpp_is_measured_again_without_weight_repacking(
        monkeypatch, tiny_config, this_machine):
    import inferplan.bench.llamacpp as lc

    measure, calls = _fake_measure(crashes_with_repack=True)
    monkeypatch.setattr(lc, "measure_isolated", measure)
    res = run_llamacpp_bench(str(tiny_config), hardware=this_machine, qtypes=("q4_0",), threads=(1, 2),
                             prefill_tokens=16, decode_tokens=4, reps=1)
    assert calls == [True, False, False]  # the second thread count goes straight to repacking off
    assert [p.weight_repacking for p in res.points] == [False, False]
    assert res.points[0].crash_signal == "SIGSEGV"
    assert all("weight_repacking=off" in r["notes"] and "SIGSEGV" in r["notes"] for r in res.rows)
    measure, calls = _fake_measure(crashes_with_repack=False)
    monkeypatch.setattr(lc, "measure_isolated", measure)
    res = run_llamacpp_bench(str(tiny_config), hardware=this_machine, qtypes=("q4_0",), threads=(2,),
                             prefill_tokens=16, decode_tokens=4, reps=1)
    assert calls == [True] and res.points[0].weight_repacking
    assert not any("weight_repacking" in r["notes"] for r in res.rows)
    measure, _ = _fake_measure(crashes_with_repack=True, crashes_without=True)
    monkeypatch.setattr(lc, "measure_isolated", measure)
    with pytest.raises(InputError, match="crashed"):
        run_llamacpp_bench(str(tiny_config), hardware=this_machine, qtypes=("q4_0",), threads=(2,),
                           prefill_tokens=16, decode_tokens=4, reps=1)

