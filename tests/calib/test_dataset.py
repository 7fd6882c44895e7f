import pytest


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


def test_an_offline_row_that_states_its_requests_batches_no_more(tmp_path):
    """A trtllm-bench run of 1,000 requests (``requests=1000`` in the notes) holds at most 1,000
    sequences, where TensorRT-LLM's max_batch_size would allow 2,048."""
    from inferplan.calib.dataset import COLUMNS, load_dataset

    def row(i, notes):
        cells = dict(id=f"t-{i}", source="t", model_id="llama-3.2-1b", hardware_id="h100-sxm",
                     num_devices="1", tp="1", weight_precision="bf16", engine="tensorrt-llm",
                     mode="offline_max", input_len="128", output_len="128", metric="output_tok_s",
                     value="60000", reliability="B", notes=notes)
        return ",".join(cells.get(c, "") for c in COLUMNS)

    p = tmp_path / "t.csv"
    p.write_text(",".join(COLUMNS) + "\n" + row(1, "src=test; requests=1000") + "\n"
                 + row(2, "src=test") + "\n")
    run, steady = load_dataset(p)
    assert run.plan is not None and steady.plan is not None
    assert run.plan.batch == 1000 and steady.plan.batch == 2048


def test_a_max_num_seqs_note_is_the_launch_option():
    """shared/calibration's AMD rows note the launch's --max-num-seqs as ``max_num_seqs=N``;
    ``engine_options=`` wins where both are given."""
    from inferplan.calib.dataset import _engine_options

    assert _engine_options("src=x; max_num_seqs=1500; num_prompts=1500") == {"max_num_seqs": "1500"}
    assert _engine_options("engine_options=max_num_seqs:64; max_num_seqs=1500") == {"max_num_seqs": "64"}
    assert _engine_options("a note that mentions max_num_seqs=32 in passing") == {}


def test_a_dated_row_runs_the_engine_release_it_measured(tmp_path):
    """llama.cpp on an RTX 4090 dated 2023-10 ran builds without CUDA graphs: the row gets the
    llama.cpp-2023 profile (with a note) and a higher per-layer cost than a 2026 row; a CPU row
    of the same date gets the CPU line (untiled prompt mat-muls, llama.cpp-2023-cpu)."""
    from inferplan.calib.dataset import COLUMNS, load_dataset
    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.factors import resolve_factors

    def row(i, hw, date):
        cells = dict(id=f"t-{i}", source="t", model_id="llama-2-7b", hardware_id=hw, num_devices="1",
                     weight_precision="q4_0", engine="llama.cpp", mode="batch", batch="1",
                     input_len="0", output_len="128", metric="decode_tok_s_per_user", value="100",
                     reliability="B", notes=f"src=test; date={date}")
        return ",".join(cells.get(c, "") for c in COLUMNS)

    p = tmp_path / "t.csv"
    p.write_text(",".join(COLUMNS) + "\n" + "\n".join(
        [row(1, "rtx-4090", "2023-10"), row(2, "rtx-4090", "2026-03"), row(3, "ryzen-9-7950x", "2023-10")]) + "\n")
    old, new, cpu = load_dataset(p)
    assert old.plan is not None and new.plan is not None and cpu.plan is not None
    assert old.plan.dep.engine.id == "llama.cpp-2023" and any("as of 2023-10" in n for n in old.notes)
    assert new.plan.dep.engine.id == "llama.cpp" and cpu.plan.dep.engine.id == "llama.cpp-2023-cpu"
    eff = load_efficiency()
    speed = [r.predict(resolve_factors(r.plan.dep, eff)[0]) for r in (old, new)]
    assert speed[0] is not None and speed[1] is not None and speed[0] < 0.8 * speed[1]


def test_a_row_naming_its_engine_version_is_placed_by_the_version(tmp_path):
    """vLLM turned async scheduling on by default in v0.14 (2026-01): a page dated 2026-01 that
    ran v0.11.0 is the vllm-2025 profile (host and GPU in turn); v0.17 is vllm (overlapped);
    v0.6.3 is the V0 engine (vllm-2024) whatever its date; a version-less row falls back to its
    date."""
    from inferplan.calib.dataset import COLUMNS, load_dataset

    def row(i, version, date):
        ver = f"engine_version={version}; " if version else ""
        cells = dict(id=f"t-{i}", source="t", model_id="llama-3.1-8b", hardware_id="h100-sxm",
                     num_devices="1", weight_precision="bf16", engine="vllm", mode="batch", batch="1",
                     input_len="128", output_len="128", metric="decode_tok_s_per_user", value="100",
                     reliability="B", notes=f"{ver}src=test; date={date}")
        return ",".join(cells.get(c, "") for c in COLUMNS)

    p = tmp_path / "t.csv"
    p.write_text(",".join(COLUMNS) + "\n" + "\n".join(
        [row(1, "vLLM v0.11.0", "2026-01"), row(2, "vLLM 0.17.1rc1", "2026-01"),
         row(3, "", "2025-10"), row(4, "", "2026-03"), row(5, "vLLM 0.6.3", "2025-06")]) + "\n")
    engines = [r.plan.dep.engine for r in load_dataset(p)]
    assert [e.id for e in engines] == ["vllm-2025", "vllm", "vllm-2025", "vllm", "vllm-2024"]
    assert engines[1].overlap_scheduler and not engines[0].overlap_scheduler
    # V0 (before 0.8) scheduled prompts before decodes; V1 mixes them
    assert engines[4].prefill_first and not (engines[0].prefill_first or engines[1].prefill_first)


def test_the_length_spread_of_offline_rows_uses_no_fitted_factor(monkeypatch):
    # the shipped profile carries values fitted on the whole corpus; a held-out row's spread factor
    # must not see them, so the replay runs at the priors
    from inferplan.calib import dataset
    from inferplan.calib.corpus import CORPUS_DIR
    from inferplan.perf.efficiency import load_efficiency, prior_efficiency

    shipped, priors = load_efficiency().table, prior_efficiency().table
    assert priors["moe_n_half"]["gpu-nvidia"][0] == 128.0 != shipped["moe_n_half"]["gpu-nvidia"][0]
    seen = []

    def spy(dep, input_len, output_len, spread, requests=0, seed=0, eff=None):
        seen.append(eff)
        return 0.5

    monkeypatch.setattr(dataset, "length_spread_factor", spy)
    rows = [r for r in dataset.load_dataset(CORPUS_DIR / "sglang-bench-vllm060.csv") if r.plan is not None]
    spread_rows = [r for r in rows if r.spread != 1.0]
    assert spread_rows and len(seen) == len(spread_rows) and all(r.spread == 0.5 for r in spread_rows)
    assert all(e is not None and e.table == priors for e in seen)


def _concurrency_csv(tmp_path, rows, clients=64, prompt=1024):
    """A canonical CSV of llama-3.1-8b concurrency rows on one H100: (metric, engine, notes,
    output_len) per row."""
    from inferplan.calib.dataset import COLUMNS

    def row(i, metric, engine, notes, out):
        cells = dict(id=f"t-{i}", source="t", model_id="llama-3.1-8b", hardware_id="h100-sxm",
                     num_devices="1", weight_precision="bf16", engine=engine, mode="concurrency",
                     batch=str(clients), input_len=str(prompt), output_len=str(out), metric=metric,
                     value="1", reliability="B", notes=f"src=test; date=2026-12; {notes}")
        return ",".join(cells.get(c, "") for c in COLUMNS)

    p = tmp_path / f"t-{clients}-{prompt}.csv"
    p.write_text(",".join(COLUMNS) + "\n" + "\n".join(row(i, *r) for i, r in enumerate(rows)) + "\n")
    return p


@pytest.mark.parametrize("clients,prompt,out", [
    (64, 1024, 256),  # 8 prompts a step: their first tokens come together at its end
    (64, 128, 256),  # one step holds every prompt: TTFT is the whole burst
    (8, 2048, 64),
    (16, 9000, 64),  # prompts longer than a step: one after another
])
def test_fixed_length_clients_on_a_prefill_first_engine_match_the_simulated_waves(
        tmp_path, clients, prompt, out):
    """Clients that start together with fixed lengths on SGLang (prefill-first) run in lockstep
    waves (calib/dataset.lockstep_metrics); the simulator, which schedules step by step, finds
    the same mean TTFT, TPOT and output throughput within 10%."""
    from inferplan.calib.dataset import load_dataset
    from inferplan.perf.efficiency import load_efficiency
    from inferplan.perf.factors import resolve_factors
    from inferplan.sim import Arrivals, DeploymentSpec, LengthDist, Workload, simulate

    notes = f"num_prompts={4 * clients}; lengths=fixed"
    p = _concurrency_csv(tmp_path, [(m, "sglang", notes, out)
                                    for m in ("ttft_ms", "tpot_ms", "output_tok_s")], clients, prompt)
    rows = load_dataset(p)
    assert all(r.lockstep and r.plan is not None for r in rows)
    eff = load_efficiency()
    ttft, tpot, tok_s = (r.predict(resolve_factors(r.plan.dep, eff)[0]) for r in rows)  # type: ignore[union-attr]
    w = Workload(arrivals=Arrivals(kind="closed", users=clients), input=LengthDist(value=prompt),
                 output=LengthDist(value=out))
    m = simulate("llama-3.1-8b", DeploymentSpec(hardware="h100-sxm", engine="sglang"), w,
                 requests=4 * clients, seed=1).metrics
    assert ttft is not None and tpot is not None and tok_s is not None
    assert abs(ttft / (m.ttft_s.mean * 1e3) - 1) < 0.10
    assert abs(tpot / (m.tpot_s.mean * 1e3) - 1) < 0.10
    assert abs(tok_s / (m.completed * out / m.duration_s) - 1) < 0.10


def test_waves_need_fixed_lengths_a_prefill_first_engine_and_a_decode(tmp_path):
    """vLLM V1 mixes prompts into decode steps (no waves); lengths drawn from a range desync the
    clients; a prefill-only run (one output token) has nothing to decode together."""
    from inferplan.calib.dataset import load_dataset

    fixed = "num_prompts=256; lengths=fixed"
    p = _concurrency_csv(tmp_path, [("ttft_ms", "sglang", fixed, 256),
                                    ("ttft_ms", "vllm", fixed, 256),
                                    ("ttft_ms", "sglang", "num_prompts=256", 256),
                                    ("ttft_ms", "sglang", fixed, 1)])
    waves, v1, ranged, prefill_only = load_dataset(p)
    assert waves.lockstep and not (v1.lockstep or ranged.lockstep or prefill_only.lockstep)
    assert ranged.burst_waves == 4  # the first wave's burst, averaged over four


def test_a_row_on_unknown_hardware_gets_no_default_engine_note(tmp_path):
    from inferplan.calib.dataset import COLUMNS, load_dataset

    cells = dict(id="u-1", source="t", model_id="llama-3.2-1b", hardware_id="no-such-npu",
                 num_devices="1", weight_precision="bf16", engine="npu-runtime", mode="batch",
                 batch="1", input_len="128", output_len="128", metric="decode_tok_s_per_user",
                 value="20", reliability="B", notes="src=test")
    p = tmp_path / "u.csv"
    p.write_text(",".join(COLUMNS) + "\n" + ",".join(cells.get(c, "") for c in COLUMNS) + "\n")
    (row,) = load_dataset(p)
    assert row.plan is None and "unknown hardware 'no-such-npu'" in (row.error or "")
    assert not any("default engine" in n for n in row.notes)


def test_a_row_whose_engine_is_replaced_keeps_a_kv_type_the_replacement_has(tmp_path):
    """A row's engine unknown to the catalog (xFasterTransformer) or not running on its device
    (TensorRT-LLM on a CPU) is predicted with the device's default engine; a KV type that engine
    lacks (int8 on llama.cpp) is read as its type of the nearest bits, with a note; a row on its
    own engine keeps what it states."""
    from inferplan.calib.dataset import load_dataset

    head = ("id,source,model_id,hardware_id,num_devices,tp,pp,ep,weight_precision,kv_precision,"
            "engine,mode,batch,input_len,output_len,metric,value,reliability,notes\n")
    rows = ["k1,t,llama-3.1-8b,epyc-9755,1,1,1,,bf16,int8,tensorrt-llm,batch,1,128,128,decode_tok_s_per_user,10,B,",
            "k2,t,llama-3.1-8b,epyc-9755,1,1,1,,bf16,int8,xfastertransformer,batch,1,128,128,decode_tok_s_per_user,10,B,",
            "k3,t,llama-3.1-8b,h100-sxm,1,1,1,,bf16,fp8,vllm,batch,1,128,128,decode_tok_s_per_user,10,B,"]
    p = tmp_path / "kv.csv"
    p.write_text(head + "\n".join(rows) + "\n", encoding="utf-8")
    got = {r.id: r for r in load_dataset(p)}
    for rid in ("k1", "k2"):
        assert got[rid].error is None and got[rid].plan.dep.kv_precision.id == "q8_0"
        assert any("read as q8_0" in n for n in got[rid].notes)
    assert got["k3"].plan.dep.kv_precision.id == "fp8" and not got["k3"].notes
