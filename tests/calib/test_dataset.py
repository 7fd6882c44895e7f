

def test_a_median_ttft_gets_no_first_wave_burst():
    from inferplan.calib.dataset import _burst_waves

    assert _burst_waves("num_prompts=10x concurrency", 4) == 10.0
    assert _burst_waves("statistic=median; num_prompts=10x concurrency", 4) == 0.0
