

def test_a_median_ttft_gets_no_first_wave_burst():
    from inferplan.calib.dataset import _burst_waves

    assert _burst_waves("num_prompts=10x concurrency", 4) == 10.0
    assert _burst_waves("statistic=median; num_prompts=10x concurrency", 4) == 0.0


def test_an_offline_row_without_a_layout_gets_the_offline_layout(tmp_path):
    """MLPerf Offline leaves the layout to the submitter: the smallest group that fits,
    replicated (Mixtral FP8 on 8 H200: 8 replicas), not TP over every device; a serving row
    without a layout shards over all its devices."""
    from inferplan.calib.dataset import COLUMNS, load_dataset

    def row(i, mode, batch):
        cells = dict(id=f"t-{i}", source="t", model_id="mixtral-8x7b", hardware_id="h200-sxm",
                     num_devices="8", weight_precision="fp8", engine="tensorrt-llm", mode=mode,
                     batch=batch, input_len="512", output_len="145", metric="output_tok_s",
                     value="60000", reliability="B", notes="src=test; date=2026-12")
        return ",".join(cells.get(c, "") for c in COLUMNS)

    p = tmp_path / "t.csv"
    p.write_text(",".join(COLUMNS) + "\n" + row(1, "offline_max", "") + "\n" + row(2, "concurrency", "64") + "\n")
    offline, served = load_dataset(p)
    assert offline.plan is not None and served.plan is not None
    assert offline.plan.dep.layout.dp == 8 and offline.plan.dep.layout.tp == 1
    assert served.plan.dep.layout.tp == 8
