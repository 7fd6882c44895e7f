"""`inferplan report` (HTML/Markdown report) and `inferplan serve` (web app + HTTP API).

Kept light at import (typer only); the report and web packages load inside the commands.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from inferplan.cli.options import (
    BatchOpt,
    ClassOpt,
    ConcurrencyOpt,
    InputLenOpt,
    KvPrecisionOpt,
    OfflineOpt,
    OutputLenOpt,
    PrecisionOpt,
    SortOpt,
)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


SIMULATED_HARDWARE = 3  # best-ranked hardware simulated by `report --simulate`


def _simulations(model, data, preset, rate, requests, precision, kv_precision, calibration, files):
    """Simulate the workload preset on the best-ranked hardware that fit (same model/precision)."""
    from inferplan.sim import DeploymentSpec, get_workload, simulate
    from inferplan.sim.workload import with_overrides

    w = get_workload(preset)
    if rate is not None:
        w = with_overrides(w, rate=rate)
    hws = [r.hardware for r in data.compare.rows if r.fits][:SIMULATED_HARDWARE]
    return [simulate(model, DeploymentSpec(hardware=h, precision=precision, kv_precision=kv_precision),
                     w, requests=requests, calibration=calibration, hardware_files=files) for h in hws]


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        model: Annotated[str, typer.Option("--model", "-m", help="Catalog model id/alias, or a config.json path or folder")],
        hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Comma-separated ids (default: whole catalog)")] = None,
        hw_class: ClassOpt = None,
        input_len: InputLenOpt = 1024,
        output_len: OutputLenOpt = 256,
        precision: PrecisionOpt = None,
        kv_precision: KvPrecisionOpt = None,
        batch: BatchOpt = None,
        concurrency: ConcurrencyOpt = None,
        offline: OfflineOpt = False,
        sort: SortOpt = "cost",
        detail: Annotated[int, typer.Option("--detail", help="Best-ranked hardware that get roofline and throughput charts")] = 8,
        fmt: Annotated[str, typer.Option("--format", help="html (one self-contained file) or md (Markdown + PNGs)")] = "html",
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default: inferplan-report-MODEL.html/.md)")] = None,
        validation: Annotated[Path | None, typer.Option("--validation", help="Measure the error on this CSV instead of the bundled accuracy table")] = None,
        calibration: Annotated[Path | None, typer.Option("--calibration", help="Calibration profile YAML (default: bundled)")] = None,
        hardware_file: Annotated[list[Path] | None, typer.Option("--hardware-file", help="YAML with extra or overriding hardware")] = None,
        simulate: Annotated[str | None, typer.Option("--simulate", help="Also simulate this workload preset (chat, rag, ...) on the 3 best-ranked hardware")] = None,
        rate: Annotated[float | None, typer.Option("--rate", help="Arrival rate (requests/s) for --simulate")] = None,
        sim_requests: Annotated[int, typer.Option("--sim-requests", help="Requests per simulation")] = 1000,
        audit: Annotated[bool, typer.Option("--audit", help="Add the audit of the bundled claims")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print the report data as one JSON object instead of writing a file")] = False,
    ) -> None:
        """Write a report (ranked table, roofline, Pareto, memory, throughput curves, assumptions, error)."""
        from inferplan.cli.main import _mode, fail
        from inferplan.errors import InferplanError, InputError

        try:
            if fmt not in ("html", "md"):
                raise InputError(f"--format must be html or md, not {fmt!r}")
            mode, n = _mode(batch, concurrency, offline)
            from inferplan.report import build_report, write_report

            kw = dict(hardware=hardware.split(",") if hardware else None, hw_class=hw_class,
                      mode=mode, batch=n, input_len=input_len, output_len=output_len,
                      precision=precision, kv_precision=kv_precision, sort=sort, detail=detail,
                      calibration=calibration, hardware_files=tuple(hardware_file or ()),
                      accuracy_csv=validation)
            data = build_report(model, **kw)  # type: ignore[arg-type]
            extra = []
            if simulate:
                extra.append(_simulations(model, data, simulate, rate, sim_requests, precision,
                                          kv_precision, calibration, tuple(hardware_file or ())))
            if audit:
                from inferplan.audit.run import run_audit

                extra.append(run_audit(calibration=calibration))
            if extra:
                from inferplan.report.sections import sections_from

                data.sections.extend(sections_from(extra))
            if json_out:
                typer.echo(data.model_dump_json(indent=2))
            else:
                safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in data.workload.model)
                path = out or Path(f"inferplan-report-{safe}.{fmt}")
                files = write_report(data, path, fmt)  # type: ignore[arg-type]
                typer.echo(str(path))
                if len(files) > 1:
                    typer.echo(f"{len(files) - 1} charts in {files[1].parent}", err=True)
        except InferplanError as e:
            fail(e)
            return
        except ModuleNotFoundError as e:
            typer.echo(f"Error: inferplan report needs the report extra ({e.name} is missing): "
                       "pip install 'inferplan[report]'", err=True)
            raise typer.Exit(2) from None
        if not any(r.fits for r in data.compare.rows):
            raise typer.Exit(1)

    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to bind (default: this machine only)")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port")] = 8000,
        workers_timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds one request may compute before a 503")] = 20.0,
    ) -> None:
        """Serve the web page and the JSON API (OpenAPI at /openapi.json, docs at /docs)."""
        try:
            import uvicorn

            from inferplan.web.app import Limits, create_app
        except ModuleNotFoundError as e:
            typer.echo(f"Error: inferplan serve needs the web extra ({e.name} is missing): "
                       "pip install 'inferplan[web,report]'", err=True)
            raise typer.Exit(2) from None
        if not 0 < port < 65536:
            typer.echo("Error: --port must be 1..65535", err=True)
            raise typer.Exit(2)
        if not _is_loopback(host):
            typer.echo(f"Warning: binding {host}: anyone who can reach this address can use the "
                       "API (no authentication). Put it behind your own proxy/auth if exposed.",
                       err=True)
        app_ = create_app(Limits(timeout_s=workers_timeout_s))
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"inferplan web app on http://{shown}:{port}/ (API docs /docs)", err=True)
        uvicorn.run(app_, host=host, port=port, log_level="warning")
