"""One call that makes a whole report: the comparison plus the optional simulation and audit
sections (what ``inferplan report`` asks for), and writing it to a file.

:func:`make_report` builds the :class:`~inferplan.report.build.ReportData`;
:func:`save_report` writes it (HTML, or Markdown with its PNGs). The CLI only parses and
prints the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from inferplan.errors import InputError
from inferplan.report.build import ReportData, build_report

__all__ = ["SIMULATED_HARDWARE", "make_report", "save_report", "default_report_path"]

SIMULATED_HARDWARE = 3  # best-ranked hardware simulated when a workload preset is given


def simulations(model, data: ReportData, preset: str, rate: float | None, requests: int,
                precision: str | None, kv_precision: str | None, calibration: Path | None,
                files: tuple[Path, ...], input_len: int | None = None,
                output_len: int | None = None, offload: bool | str | None = None, host: str | None = None,
                slots: int | None = None) -> list:
    """Simulate the workload preset's arrivals on the best-ranked rows that fit, each on the
    layout the table ranked it at (same model/precision), at the report's prompt and output
    lengths (the table's workload; None: the preset's)."""
    from inferplan.catalog.hardware import get_hardware
    from inferplan.errors import InferplanError
    from inferplan.perf.offload import offload_on
    from inferplan.sim import DeploymentSpec, get_workload, simulate
    from inferplan.sim.workload import with_overrides

    w = with_overrides(get_workload(preset), rate=rate, input_len=input_len, output_len=output_len)
    runs = []
    ests = [(r.hardware, r.estimate) for r in data.compare.rows if r.fits and r.estimate is not None]
    for hw, e in ests[:SIMULATED_HARDWARE]:
        base = dict(hardware=hw, precision=precision, kv_precision=kv_precision, engine=e.engine,
                    offload=offload_on(get_hardware(hw, files), offload), host=host, slots=slots)
        replica = e.devices // max(e.dp, 1)
        ranked = DeploymentSpec(**base, devices=replica, tp=e.tp, pp=e.pp, ep=e.ep)
        for spec, k in ((ranked, max(e.dp, 1)), (DeploymentSpec(**base), 1)):  # else the auto layout
            try:
                runs.append(simulate(model, spec, w, requests=requests, replicas=k,
                                     calibration=calibration, hardware_files=files))
                break
            except InferplanError:
                continue  # a row the simulator cannot place (the table's figures stand alone)
    return runs


def make_report(model: str, *, simulate: str | None = None, rate: float | None = None,
                sim_requests: int = 1000, audit: bool = False, **build_kw) -> ReportData:
    """:func:`build_report` plus, on request, simulations of a workload preset on the best
    hardware and the audit of the bundled claims, as extra sections."""
    data = build_report(model, **build_kw)
    extra: list = []
    if simulate:
        extra.append(simulations(model, data, simulate, rate, sim_requests,
                                 build_kw.get("precision"), build_kw.get("kv_precision"),
                                 build_kw.get("calibration"), tuple(build_kw.get("hardware_files", ())),
                                 build_kw.get("input_len"), build_kw.get("output_len"),
                                 build_kw.get("offload"), build_kw.get("host"), build_kw.get("slots")))
    if audit:
        from inferplan.audit.run import run_audit

        extra.append(run_audit(calibration=build_kw.get("calibration")))
    if extra:
        from inferplan.report.sections import sections_from

        data.sections.extend(sections_from(extra))
    return data


def default_report_path(data: ReportData, fmt: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in data.workload.model)[:100]
    return Path(f"inferplan-report-{safe}.{fmt}")


def save_report(data: ReportData, path: Path | None, fmt: Literal["html", "md"] = "html") -> list[Path]:
    """Write the report (default file name from the model); errors name the file."""
    from inferplan.report import write_report
    from inferplan.store import StateError

    if fmt not in ("html", "md"):
        raise InputError(f"--format must be html or md, not {fmt!r}")
    target = path or default_report_path(data, fmt)
    if target.is_dir():
        raise InputError(f"--out {target} is a folder; give a file path")
    try:
        if fmt == "html":  # one file: written atomically (a failure leaves no half report)
            from inferplan.report import render_html
            from inferplan.store import atomic_write_text

            return [atomic_write_text(target, render_html(data))]
        return write_report(data, target, fmt)
    except OSError as e:
        raise StateError(f"cannot write the report {target}: {e.strerror or e}") from None
