"""Reports: numbers (build.py), the self-contained HTML, Markdown + PNGs, sections, the CLI."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app
from inferplan.report import (
    LineChart,
    ReportSection,
    Series,
    build_report,
    register_section_provider,
    render_html,
    write_report,
)
from inferplan.report.accuracy import bundled_accuracy
from inferplan.report.build import compare_model, pareto_front
from inferplan.report.figures import label_positions
from inferplan.report.sections import section_providers

from ..conftest import PUBLISHED

HW = ["h100-sxm", "mi300x", "cerebras-cs3", "groq-lpu-v1"]


@pytest.fixture(scope="module")
def data():
    return build_report("llama-3.1-70b", hardware=HW, mode="concurrency", batch=16,
                        input_len=1024, output_len=256)


@pytest.fixture(scope="module")
def html(data):
    return render_html(data)


def test_report_ranks_like_compare(data):
    from inferplan.compare import compare

    ref = compare("llama-3.1-70b", hardware=HW, mode="concurrency", batch=16, input_len=1024,
                  output_len=256)
    assert [r.hardware for r in data.compare.rows] == [r.hardware for r in ref.rows]
    groq = data.compare.rows[-1]  # 230 MB of SRAM per chip: hundreds of chips, the dearest $/token
    assert groq.hardware == "groq-lpu-v1" and groq.fits and groq.estimate.devices > 500


def test_decode_point_is_memory_bound_below_the_ridge(data):
    for hw in ("h100-sxm", "mi300x"):
        d = next(x for x in data.details if x.hardware == hw)
        ridge = d.peak_flops_s / d.memory_bw_bytes_s
        dec = next(p for p in d.points if p.phase == "decode")
        pre = next(p for p in d.points if p.phase == "prefill")
        assert dec.intensity_flop_per_byte < ridge < pre.intensity_flop_per_byte
        assert pre.bound == "compute"
        for p in d.points:  # nothing runs above its roof
            assert p.achieved_flops_s <= min(d.peak_flops_s, p.intensity_flop_per_byte * d.memory_bw_bytes_s) * 1.001
    # The label is the model's, not the datasheet roofline's: on H100 a batch-16 decode streams
    # weights; the fitted AMD GEMM factors (a low efficiency at 16 rows) make the same step on an
    # MI300X compute-bound, and the label says so rather than the roofline's guess.
    h100 = next(x for x in data.details if x.hardware == "h100-sxm")
    assert next(p for p in h100.points if p.phase == "decode").bound == "memory"


def test_throughput_curve_grows_with_batch_and_slows_each_user(data):
    c = next(x for x in data.details if x.hardware == "h100-sxm").curve
    assert c is not None and c.batch[0] >= 1 and c.batch[-1] == c.max_batch
    assert all(b > a for a, b in zip(c.output_tok_s, c.output_tok_s[1:], strict=False))
    assert all(b <= a * 1.0001 for a, b in zip(c.tok_s_per_user, c.tok_s_per_user[1:], strict=False))


def test_html_is_self_contained_and_has_the_table_and_charts(html):
    assert not re.search(r"<script[^>]+src=[\"']?https?:", html)
    assert not re.search(r"<link[^>]+href=[\"']?https?:", html)
    assert "Plotly.newPlot" in html and html.count('class="plotly-graph-div"') >= 4
    assert '<table class="compare">' in html
    for h in HW:
        assert f"<b>{h}</b>" in html
    assert "cannot run this workload" not in html  # every machine here fits
    for title in ("Cost vs latency", "Roofline", "Memory per device", "Throughput and interactivity",
                  "Assumptions", "Measured error of this tool", "Definitions"):
        assert title in html


def test_html_names_the_machines_that_cannot_run_the_workload():
    out = render_html(build_report("llama-3.1-70b", hardware=["h100-sxm", "raspberry-pi-5"], detail=1))
    assert "<b>h100-sxm</b>" in out
    assert "raspberry-pi-5" in out and "cannot run this workload" in out


def test_html_escapes_names_from_a_pasted_config(tmp_path):
    from inferplan.models.registry import load_config

    cfg, _ = load_config(_bundled_config("llama-3.2-1b"))
    from inferplan.models.adapters import spec_from_hf_config

    spec = spec_from_hf_config(cfg, "<script>alert(1)</script>")
    out = render_html(build_report(spec, hardware=["l4"], detail=1))
    assert "<script>alert(1)</script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out


def _bundled_config(mid: str):
    from inferplan.catalog._load import data_path

    return data_path("models", f"{mid}.json")


def test_accuracy_section_shows_the_classes_in_the_report(data):
    acc = next(s for s in data.sections if s.title == "Measured error of this tool")
    rows = {r[0]: r for r in acc.tables[0].rows}
    assert {"gpu", "wafer", "all"} <= set(rows)
    assert rows["all"][1] == bundled_accuracy().overall.rows
    # the wafer class rests on a couple of rows: the section says so
    assert any(f"wafer: {rows['wafer'][1]}" in t and "anecdotes" in t for t in acc.text)
    assert not any("gpu:" in t for t in acc.text)


def test_bundled_accuracy_matches_the_readme_loso_numbers():
    acc = bundled_accuracy()
    assert acc is not None and acc.rows >= 84
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    def loso(label: str) -> float:  # the bold LOSO median column of the README's accuracy table
        m = re.search(r"^\| " + re.escape(label) + r" \|[^\n]*?\*\*(\d+)%\*\*", readme, re.M)
        assert m, label
        return int(m.group(1)) / 100

    assert acc.overall.loso_median_ape == pytest.approx(loso("**all**"), abs=0.006)
    assert acc.by_hardware_class["gpu"].loso_median_ape == pytest.approx(loso("gpu"), abs=0.006)


@pytest.mark.skipif(not PUBLISHED.exists(), reason="shared/calibration/published.csv not present")
def test_live_validation_replaces_the_bundled_table():
    d = build_report("llama-3.1-8b", hardware=["h100-sxm"], detail=0, accuracy_csv=PUBLISHED)
    assert d.accuracy is not None and d.accuracy.method.startswith("in-sample")
    assert d.accuracy.by_hardware_class["gpu"].loso_median_ape is None


def test_extra_sections_and_providers_are_rendered():
    class SimResult:  # what a simulation result exposes
        def report_sections(self):
            return [ReportSection(title="Simulated latency", text=["p50 and p99 over 1,000 requests"],
                                  charts=[LineChart(title="TTFT CDF", x_title="TTFT (s)",
                                                    y_title="fraction of requests", step=True,
                                                    series=[Series(name="h100-sxm", x=[0.1, 0.2, 0.4],
                                                                   y=[0.5, 0.9, 1.0])])])]

    register_section_provider("test-audit", lambda d: [ReportSection(title="Audit findings",
                                                                     text=[f"{d.workload.model}: ok"])])
    try:
        d = build_report("llama-3.1-8b", hardware=["h100-sxm"], detail=1, extra=[SimResult()])
    finally:
        from inferplan.report import sections

        sections._PROVIDERS.pop("test-audit")
    titles = [s.title for s in d.sections]
    assert titles[-2:] == ["Audit findings", "Simulated latency"]
    out = render_html(d)
    assert "Simulated latency" in out and "TTFT CDF" in out and "llama-3.1-8b: ok" in out
    assert "test-audit" not in section_providers()


def test_markdown_writes_pngs_next_to_it(tmp_path, data):
    files = write_report(data, tmp_path / "r.md", "md")
    md = (tmp_path / "r.md").read_text()
    pngs = [f for f in files if f.suffix == ".png"]
    assert len(pngs) == 4 and all(f.read_bytes()[:4] == b"\x89PNG" for f in pngs)
    for f in pngs:
        assert f"](r_files/{f.name})" in md
    assert "| 1 | **" in md and "Measured error of this tool" in md


def test_pareto_front_keeps_only_undominated_points():
    x = [1.0, 2.0, 3.0, 2.5]
    y = [5.0, 3.0, 1.0, 4.0]  # (2.5, 4) is beaten by (2, 3)
    assert pareto_front(x, y) == [0, 1, 2]
    assert label_positions([1, 1.1, 10], [1, 1.1, 10], False, False) == [
        "bottom center", "top center", "top center"]


def test_an_offline_report_of_n_requests_batches_at_most_n():
    d = build_report("llama-3.1-8b", hardware=["h100-sxm"], mode="offline", detail=0, requests=100)
    assert "100 requests" in d.title
    assert d.compare.rows[0].estimate.batch == 100


def test_compare_model_takes_a_model_spec():
    from inferplan.models.registry import get_model
    from inferplan.perf.efficiency import load_efficiency

    res, plans = compare_model(get_model("llama-3.1-8b"), hardware=["l4", "h100-sxm"], hw_class=None,
                               mode="batch", batch=1, input_len=128, output_len=32, precision=None,
                               kv_precision=None, sort="speed", eff=load_efficiency())
    assert [r.hardware for r in res.rows] == ["h100-sxm", "l4"] and set(plans) == {"l4", "h100-sxm"}


runner = CliRunner()


def test_cli_report_writes_one_html_file(tmp_path):
    out = tmp_path / "rep.html"
    r = runner.invoke(app, ["report", "--model", "llama-3.1-8b", "--hardware", "h100-sxm,l4",
                            "--batch", "4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == str(out)
    assert out.stat().st_size > 1_000_000 and "Plotly.newPlot" in out.read_text()


def test_cli_report_json_and_errors(tmp_path):
    r = runner.invoke(app, ["report", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["compare"]["rows"][0]["hardware"] == "h100-sxm"
    r = runner.invoke(app, ["report", "--model", "llama-3.1-8b", "--hardware", "h100", "--json"])
    assert r.exit_code == 2 and "ambiguous" in r.stderr
    r = runner.invoke(app, ["report", "--model", "llama-3.1-8b", "--format", "pdf"])
    assert r.exit_code == 2 and "--format" in r.stderr
    r = runner.invoke(app, ["report", "--model", "llama-3.1-8bb", "--hardware", "h100-sxm", "--json"])
    assert r.exit_code == 2 and "did you mean llama-3.1-8b" in r.stderr
    assert json.loads(r.stdout)["error"]["type"] == "UnknownIdError"  # one JSON document


def test_simulation_and_audit_results_become_sections():
    sim = pytest.importorskip("inferplan.sim")
    from inferplan.sim.workload import with_overrides

    w = with_overrides(sim.get_workload("chat"), rate=4.0)
    runs = [sim.simulate("llama-3.1-8b", sim.DeploymentSpec(hardware=h), w, requests=200)
            for h in ("h100-sxm", "l40s")]
    extra: list = [runs]
    try:
        from inferplan.audit.run import run_audit

        extra.append(run_audit(only=["02-memory-specs"]))
    except ImportError:
        pass
    d = build_report("llama-3.1-8b", hardware=["h100-sxm", "l40s"], detail=1, extra=extra)
    s = next(x for x in d.sections if x.title == "Simulation")
    assert [r[0] for r in s.tables[0].rows] == ["1x1 h100-sxm", "1x1 l40s"]  # replicas x devices
    titles = [c.title for c in s.charts]
    assert any(t.startswith("Time to first token") for t in titles)
    assert "Requests waiting over time" in titles and "Batch size over time" in titles
    ttft = s.charts[0].series[0]
    assert ttft.y == sorted(ttft.y) and ttft.x == sorted(ttft.x)  # a CDF
    if len(extra) > 1:
        assert any(x.title.startswith("Audit:") for x in d.sections)
    assert "Requests waiting over time" in render_html(d)


def test_unknown_result_types_are_refused():
    with pytest.raises(TypeError, match="no adapter"):
        build_report("llama-3.1-8b", hardware=["h100-sxm"], detail=0, extra=[object()])


def test_cli_report_with_simulation(tmp_path):
    pytest.importorskip("inferplan.sim")
    out = tmp_path / "r.md"
    r = runner.invoke(app, ["report", "--model", "llama-3.1-8b", "--hardware", "h100-sxm,l40s",
                            "--concurrency", "8", "--simulate", "chat", "--rate", "3",
                            "--sim-requests", "200", "--format", "md", "-o", str(out)])
    assert r.exit_code == 0, r.output
    md = out.read_text()
    assert "## Simulation" in md and "r_files/section" in md


def test_report_simulations_run_the_tables_layouts_at_its_lengths_and_carry_warnings():
    """The report simulates each best-ranked row on the layout the table ranked it at, at the
    report's prompt and output lengths, and says when a run is overloaded (its figures moot)."""
    from inferplan.report.make import make_report

    data = make_report("llama-3.1-70b", simulate="chat", rate=20, sim_requests=300,
                       hardware=["h100-sxm", "mi300x"], mode="concurrency", batch=64,
                       input_len=2000, output_len=500)
    row = next(r for r in data.compare.rows if r.hardware == "h100-sxm")
    sec = next(s for s in data.sections if s.title == "Simulation")
    assert any("overloaded" in t for t in sec.text)
    from inferplan.report.make import simulations

    runs = simulations("llama-3.1-70b", data, "chat", 20, 200, None, None, None, (), 2000, 500)
    h100 = next(r for r in runs if r.pools[0].hardware == "h100-sxm")
    assert h100.pools[0].tp == row.estimate.tp and h100.pools[0].devices_per_replica == row.estimate.devices // row.estimate.dp
    assert h100.metrics.completed > 0
