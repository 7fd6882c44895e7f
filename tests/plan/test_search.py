import pytest


def test_offload_auto_leaves_cpus_in_the_plan_unoffloaded():
    """--offload auto is host DRAM next to an accelerator: a CPU in the same plan is planned
    without it (it was refused there, dropping the cheapest answer)."""
    from inferplan.catalog.hardware import get_hardware
    from inferplan.perf.offload import offload_on
    from inferplan.plan.search import _hw_opts

    cpu, gpu = get_hardware("epyc-9755"), get_hardware("h100-sxm")
    assert "offload" not in _hw_opts(cpu, {"offload": "auto"})
    assert _hw_opts(gpu, {"offload": "auto"})["offload"] == "auto"
    assert offload_on(cpu, "experts") == "experts" and offload_on(gpu, None) is None


def test_a_plans_check_leaves_out_at_least_one_request_lifetime():
    """A 60-s run of 25-s requests read from its 12th second measured a filling cluster: the
    warm-up covers a lifetime (at most half the run), never less than the configured share."""
    from inferplan.plan.evaluate import Settings

    s = Settings(lifetime_s=25.0)
    assert s.warmup_for(12000, 200.0) == pytest.approx(25.0 / 60.0)
    assert s.warmup_for(3000, 10.0) == pytest.approx(0.2)  # 300 s: the share covers it
    assert s.warmup_for(1000, 200.0) == pytest.approx(0.5)  # 5 s: capped
