

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
