"""Hardware catalog: agreement with the reference sheet, lookup, user overrides, regeneration."""

from __future__ import annotations

import csv
import importlib.util
import math
import os
import re
from pathlib import Path

import pytest
import yaml

from inferplan.catalog._load import data_path
from inferplan.catalog.hardware import (
    UserFileWarning,
    get_hardware,
    hardware_catalog,
    list_hardware,
)
from inferplan.errors import AmbiguousIdError, CatalogError, UnknownIdError

REPO = Path(__file__).resolve().parents[2]
SHEET = REPO.parent / "shared" / "reference" / "hardware.csv"
IDS_MD = REPO.parent / "shared" / "calibration" / "ids.md"
TOOL = REPO / "tools" / "build_hardware_catalog.py"

needs_sheet = pytest.mark.skipif(not SHEET.exists(), reason="shared/reference/hardware.csv absent")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty INFERPLAN_HOME for every test."""
    home = tmp_path / "home"
    monkeypatch.setenv("INFERPLAN_HOME", str(home))
    return home


def _sheet_rows() -> list[dict[str, str]]:
    with open(SHEET, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _overlay_rows() -> list[dict[str, str]]:
    """Devices the sheet lacks, written in the overlay's ``rows`` in the sheet's columns."""
    import yaml

    doc = yaml.safe_load((REPO / "tools" / "hardware_overlay.yaml").read_text(encoding="utf-8"))
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in doc.get("rows") or []]


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-12)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- agreement with the reference sheet ---------------------------------------------------------


@needs_sheet
def test_every_sheet_row_is_in_the_catalog_with_its_numbers_unit_converted() -> None:
    catalog = hardware_catalog()
    rows = _sheet_rows()
    extra = _overlay_rows()
    assert len(rows) == 56 and len(rows) + len(extra) == len(catalog)
    for row in rows + extra:
        row = {**dict.fromkeys(rows[0], ""), **row}
        spec = catalog[row["catalog_id"]]
        assert spec.hw_class == row["class"], spec.id
        assert spec.name == row["name"], spec.id
        if row["memory_gb"]:
            vendor_gb = float(row["memory_gb"]) * 1e9
            if "memory_bytes" in spec.field_sources:  # real bytes (driver total or GiB), cited
                assert 0.95 * vendor_gb <= spec.memory_bytes <= 1.13 * vendor_gb, spec.id
            else:
                assert _close(spec.memory_bytes, vendor_gb), spec.id  # vendor GB
        assert _close(spec.memory_bw_bytes_s, float(row["memory_bw_tb_s"]) * 1e12), spec.id
        if row["bf16_tflops_dense"]:
            assert _close(spec.peak_flops.get("bf16"), float(row["bf16_tflops_dense"]) * 1e12)
        if row["fp32_tflops"]:
            assert _close(spec.peak_flops.get("fp32"), float(row["fp32_tflops"]) * 1e12)
        if row["typical_cloud_usd_per_hour"]:
            assert _close(spec.price.usd_per_hour, float(row["typical_cloud_usd_per_hour"]))
        assert spec.notes == row["notes"], spec.id


def test_h100_sxm_holds_80_gib_as_nvidia_smi_reports() -> None:
    # nvidia-smi: 81,559 MiB on an H100 80GB HBM3; the vendor's "80 GB" read as 80e9 is 6% short
    assert get_hardware("h100-sxm").memory_bytes == 81559 * 2**20


@pytest.mark.parametrize("hw_id", ["a100-sxm-80g", "h100-sxm", "h100-pcie", "h100-nvl", "h200-sxm",
                                   "b200", "gb200", "b300", "gb300", "l40s", "l4", "rtx-4090",
                                   "rtx-5090", "rtx-pro-6000-blackwell", "mi250x", "mi300x", "mi325x",
                                   "mi355x", "gaudi3", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu7x",
                                   "trainium2", "inferentia2"])
def test_hbm_and_gddr_capacities_are_real_bytes_with_a_source(hw_id: str) -> None:
    hw = get_hardware(hw_id)
    assert hw.field_sources.get("memory_bytes"), hw_id
    if SHEET.exists():  # never below the vendor's decimal figure: binary sizes are larger
        row = next(r for r in _sheet_rows() if r["catalog_id"] == hw_id)
        assert hw.memory_bytes is not None and hw.memory_bytes >= float(row["memory_gb"]) * 1e9


def test_llama_70b_fp8_fits_one_h100_sxm() -> None:
    from inferplan.perf.estimate import estimate

    est = estimate("llama-3.1-70b", "h100-sxm", devices=1, precision="fp8", input_len=1024,
                   output_len=128)
    assert est.fits, est.reason


@needs_sheet
def test_peaks_are_only_those_the_sheet_or_overlay_gives() -> None:
    a100 = get_hardware("a100-sxm-80g")
    assert "fp8" not in a100.peak_flops and "fp4" not in a100.peak_flops
    assert a100.peak_flops["fp16"] == a100.peak_flops["bf16"]  # tensor cores, FP32 accumulate


@pytest.mark.skipif(not IDS_MD.exists(), reason="shared/calibration/ids.md absent")
def test_every_calibration_hardware_id_resolves() -> None:
    text = IDS_MD.read_text(encoding="utf-8")
    section = text.split("## hardware_id", 1)[1].split("\n## ", 1)[0]
    ids = re.findall(r"^- `([^`]+)`", section, flags=re.M)
    assert len(ids) > 20
    for id_ in ids:
        assert get_hardware(id_).id == id_


# --- invariants of every entry -----------------------------------------------------------------


def test_every_entry_cites_a_spec_source_and_has_a_capacity() -> None:
    for spec in hardware_catalog().values():
        assert spec.spec_source.strip(), spec.id
        assert spec.memory_bytes, f"{spec.id}: no memory_bytes, fit checks cannot work"
        assert spec.peak_flops, f"{spec.id}: no peak"


def test_every_link_has_a_source() -> None:
    for spec in hardware_catalog().values():
        for link in (spec.scale_up, spec.scale_out, spec.host_link):
            if link is not None:
                assert link.source.strip(), spec.id


def test_every_cpu_has_a_derived_fp32_peak_and_vector_rate() -> None:
    for spec in list_hardware("cpu"):
        assert spec.peak_flops_derived, spec.id
        assert spec.vector_flops == spec.peak_flops["fp32"], spec.id
        assert spec.scale_up is None, spec.id


def test_sram_only_devices_keep_weights_in_sram() -> None:
    sram_only = {s.id for s in hardware_catalog().values() if s.sram_only}
    assert sram_only == {"cerebras-cs3", "groq-lpu-v1"}
    for id_ in sram_only:
        spec = get_hardware(id_)
        assert spec.sram_bytes == spec.memory_bytes


def test_cpu_clusters_of_socs_have_a_reachable_bandwidth_below_peak() -> None:
    m2_max = get_hardware("apple-m2-max-cpu")
    assert m2_max.usable_bw_bytes_s == pytest.approx(0.11e12)
    assert m2_max.usable_bw_bytes_s < m2_max.memory_bw_bytes_s


def test_every_default_engine_runs_on_its_hardware() -> None:
    engines = pytest.importorskip("inferplan.catalog.engines")
    for spec in hardware_catalog().values():
        engines.check_engine_runs_on(engines.default_engine(spec), spec)


# --- lookup ------------------------------------------------------------------------------------


def test_exact_id_and_alias_resolve() -> None:
    assert get_hardware("h100-sxm").id == "h100-sxm"
    assert get_hardware("H200").id == "h200-sxm"
    assert get_hardware("cs3").id == "cerebras-cs3"
    assert get_hardware("groq").id == "groq-lpu-v1"
    assert get_hardware("4090").id == "rtx-4090"
    assert get_hardware("trillium").id == "tpu-v6e"


def test_h100_is_ambiguous_and_lists_the_three_parts() -> None:
    with pytest.raises(AmbiguousIdError) as e:
        get_hardware("h100")
    assert e.value.candidates == ["h100-nvl", "h100-pcie", "h100-sxm"]


def test_unknown_hardware_suggests_close_ids() -> None:
    with pytest.raises(UnknownIdError) as e:
        get_hardware("h100-sxn")
    assert "h100-sxm" in e.value.suggestions
    assert "did you mean" in str(e.value)


def test_list_hardware_filters_by_class_and_vendor() -> None:
    tpus = list_hardware("tpu")
    assert [s.id for s in tpus] == sorted(s.id for s in tpus)
    assert {s.vendor for s in tpus} == {"Google"}
    assert {s.id for s in list_hardware(vendor="amd", hw_class="gpu")} >= {"mi300x", "mi355x"}


# --- user files --------------------------------------------------------------------------------

USER_FILE = """\
- id: h100-sxm
  override: true
  price: {usd_per_hour: 1.85, source: "our contract, 2026-06"}

- id: my-box
  name: My inference box
  vendor: NVIDIA
  hw_class: gpu
  aliases: [box]
  memory_bytes: 24.0e+9
  memory_bw_bytes_s: 1.008e+12
  peak_flops: {fp32: 82.6e+12, bf16: 165.2e+12}
  spec_source: test
"""


def test_user_file_overrides_a_price_and_adds_a_device(home: Path) -> None:
    bundled = get_hardware("h100-sxm")
    _write(home / "hardware" / "mine.yaml", USER_FILE)

    h100 = get_hardware("h100-sxm")
    assert h100.price.usd_per_hour == 1.85
    assert h100.price.source == "our contract, 2026-06"
    assert h100.memory_bw_bytes_s == bundled.memory_bw_bytes_s  # the rest is kept
    assert h100.scale_up == bundled.scale_up
    assert get_hardware("box").memory_bytes == 24e9


def test_user_file_edits_are_picked_up_despite_the_cache(home: Path) -> None:
    path = _write(home / "hardware" / "mine.yaml", USER_FILE)
    assert get_hardware("h100-sxm").price.usd_per_hour == 1.85
    _write(path, USER_FILE.replace("1.85", "1.5"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert get_hardware("h100-sxm").price.usd_per_hour == 1.5


def test_extra_files_come_after_user_files(tmp_path: Path, home: Path) -> None:
    _write(home / "hardware" / "mine.yaml", USER_FILE)
    extra = _write(
        tmp_path / "extra.yaml",
        "- id: h100-sxm\n  override: true\n  price: {usd_per_hour: 9.0}\n",
    )
    assert get_hardware("h100-sxm", extra_files=(extra,)).price.usd_per_hour == 9.0
    assert get_hardware("h100-sxm").price.usd_per_hour == 1.85


def test_invalid_field_gives_catalog_error_naming_file_and_entry(home: Path) -> None:
    path = _write(
        home / "hardware" / "bad.yaml",
        USER_FILE.replace("memory_bytes: 24.0e+9", "memory_gb: 24"),
    )
    with pytest.warns(UserFileWarning) as w:  # a broken user file is skipped, not fatal
        cat = hardware_catalog()
    msg = str(w[0].message)
    assert str(path) in msg and "'my-box'" in msg and "memory_gb" in msg
    assert "my-box" not in cat and "h100-sxm" in cat
    extra = _write(home.parent / "extra.yaml", path.read_text())
    with pytest.raises(CatalogError, match="memory_gb"):  # named with --hardware-file: an error
        hardware_catalog((extra,))


def test_negative_bandwidth_is_rejected(home: Path) -> None:
    _write(
        home / "hardware" / "bad.yaml",
        "- id: h100-sxm\n  override: true\n  memory_bw_bytes_s: -1\n",
    )
    with pytest.warns(UserFileWarning, match=r"bad\.yaml: hardware 'h100-sxm': memory_bw_bytes_s"):
        assert get_hardware("h100-sxm").memory_bw_bytes_s > 0  # the bundled entry stands


def test_override_of_an_unknown_id_is_an_error(home: Path) -> None:
    _write(home / "hardware" / "bad.yaml", "- id: nope\n  override: true\n  tdp_w: 5\n")
    with pytest.warns(UserFileWarning, match="no earlier entry"):
        assert "nope" not in hardware_catalog()


def test_missing_extra_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        hardware_catalog((tmp_path / "absent.yaml",))


# --- generated files ---------------------------------------------------------------------------


@needs_sheet
def test_regenerating_from_the_sheet_reproduces_the_committed_yaml(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_hardware_catalog", TOOL)
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)

    out = tmp_path / "out"
    assert tool.main([str(SHEET), "--out", str(out)]) == 0
    committed = {
        p.name: p.read_text(encoding="utf-8") for p in data_path("hardware").glob("*.yaml")
    }
    generated = {p.name: p.read_text(encoding="utf-8") for p in out.glob("*.yaml")}
    assert generated.keys() == committed.keys()
    for name, text in generated.items():
        assert text == committed[name], (
            f"{name} is stale: run `python tools/build_hardware_catalog.py` and commit the result"
        )


def test_generated_files_say_they_are_generated() -> None:
    for path in data_path("hardware").glob("*.yaml"):
        assert "GENERATED by tools/build_hardware_catalog.py" in path.read_text(encoding="utf-8")


def test_every_cpu_has_an_int8_dot_product_rate():
    """ggml's quantized kernels run int8 dot products on every CPU (VNNI/AMX, NEON sdot, or
    AVX2 vpmaddubsw at 2x the fp32 rate): a CPU without an int8 peak would price q4_0/q8_0 at
    its fp32 rate (the Threadripper 5975WX prefilled 2.5x slower than a 7950X in the model,
    faster in measurements)."""
    from inferplan.catalog.hardware import hardware_catalog

    for hw in hardware_catalog().values():
        if hw.hw_class == "cpu":
            assert hw.peak_flops.get("int8", 0) >= 2 * hw.peak_flops["fp32"], hw.id


def test_dgx_spark_has_the_tensor_rates_of_its_blackwell_generation():
    """GB10 states only FP32 and sparse FP4; quantized and bf16 work must not fall back to the
    31 TFLOPS FP32 rate (a GGUF prompt would prefill ~8x too slowly)."""
    from inferplan.catalog.hardware import get_hardware

    hw, rtx = get_hardware("dgx-spark"), get_hardware("rtx-5090")
    assert hw.architecture == rtx.architecture == "nvidia-blackwell-sm120"
    assert hw.peak_flops["fp8"] == hw.peak_flops["int8"] == hw.peak_flops["fp4"] / 2
    assert hw.peak_flops["bf16"] / hw.peak_flops["fp8"] == rtx.peak_flops["bf16"] / rtx.peak_flops["fp8"]
    assert "not vendor-stated" in hw.field_sources["peak_flops"]


def test_the_simd_int8_peak_of_a_cpu_is_its_vector_rate_not_its_matrix_units():
    # a Xeon's int8 entry is AMX (32x the fp32 vector rate); ggml's SIMD kernels reach VNNI's 4x
    from inferplan.catalog.hardware import get_hardware

    xeon, ryzen = get_hardware("xeon-6980p"), get_hardware("ryzen-9-7950x")
    assert xeon.peak_for(["int8_simd"])[1] == 4 * xeon.vector_flops < xeon.peak_flops["int8"]
    assert ryzen.peak_for(["int8_simd"])[1] == ryzen.peak_flops["int8"]  # VNNI: the same 4x


def test_apple_and_single_board_power_is_the_whole_computers_with_a_source() -> None:
    for hw_id in ("apple-m2-ultra-gpu", "apple-m1-max-cpu", "raspberry-pi-5", "apple-m4-pro-gpu"):
        hw = get_hardware(hw_id)
        assert hw.tdp_w and hw.idle_w is not None and hw.power_scope == "system"
        assert "wall" in hw.field_sources["tdp_w"] + hw.field_sources.get("power_scope", "")
    assert get_hardware("h100-sxm").power_scope == "chip"  # the sheet's TDPs are the boards'


def test_the_overlay_may_not_replace_a_power_figure_the_sheet_has(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_hardware_catalog", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    rows = csv.DictReader(mod.DEFAULT_CSV.read_text(encoding="utf-8").splitlines())
    row = next(r for r in rows if r["catalog_id"] == "h100-sxm")
    doc = yaml.safe_load(mod.DEFAULT_OVERLAY.read_text(encoding="utf-8"))
    entries = dict(doc["entries"])
    entries["h100-sxm"] = {**entries["h100-sxm"], "tdp_w": 1,
                           "sources": {**entries["h100-sxm"].get("sources", {}), "tdp_w": "x"}}
    with pytest.raises(mod.BuildError, match="tdp_w would replace the sheet's value"):
        mod.build_entry(row, entries, doc["defaults"])


def test_the_sxm_spelling_of_blackwell_boards_finds_them():
    from inferplan.catalog.hardware import get_hardware

    assert get_hardware("b200-sxm").id == "b200" and get_hardware("b300-sxm").id == "b300"
