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
    CalibOpt,
    ClassOpt,
    ConcurrencyOpt,
    HwFileOpt,
    InputLenOpt,
    JsonOpt,
    KvPrecisionOpt,
    ModelOpt,
    OfflineOpt,
    OutputLenOpt,
    PrecisionOpt,
    RateOpt,
    RequestsOpt,
    SortOpt,
    duration,
)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        model: ModelOpt,
        hardware: Annotated[str | None, typer.Option("--hardware", "-H", help="Comma-separated ids (default: whole catalog)")] = None,
        hw_class: ClassOpt = None,
        input_len: InputLenOpt = 1024,
        output_len: OutputLenOpt = 256,
        precision: PrecisionOpt = None,
        kv_precision: KvPrecisionOpt = None,
        batch: BatchOpt = None,
        concurrency: ConcurrencyOpt = None,
        offline: OfflineOpt = False,
        requests: RequestsOpt = None,
        sort: SortOpt = "cost",
        detail: Annotated[int, typer.Option("--detail", min=0, max=100, help="Best-ranked hardware that get roofline and throughput charts")] = 8,
        fmt: Annotated[str, typer.Option("--format", help="html (one self-contained file) or md (Markdown + PNGs)")] = "html",
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file (default: inferplan-report-MODEL.html/.md)", dir_okay=False)] = None,
        validation: Annotated[Path | None, typer.Option("--validation", help="Measure the error on this CSV instead of the bundled accuracy table", exists=True, dir_okay=False)] = None,
        calibration: CalibOpt = None,
        hardware_file: HwFileOpt = None,
        simulate: Annotated[str | None, typer.Option("--simulate", help="Also simulate this workload preset's arrivals (chat, rag, ...) at the report's lengths on the 3 best-ranked rows, each on its ranked layout")] = None,
        rate: RateOpt = None,
        sim_requests: Annotated[int, typer.Option("--sim-requests", min=1, max=10**6, help="Requests per simulation")] = 1000,
        audit: Annotated[bool, typer.Option("--audit", help="Add the audit of the bundled claims")] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Write a report (ranked table, roofline, Pareto, memory, throughput curves, assumptions, error).

        With --json, print the report data as one JSON object instead of writing a file."""
        from inferplan.cli.main import _mode
        from inferplan.errors import InputError

        if fmt not in ("html", "md"):
            raise InputError(f"--format must be html or md, not {fmt!r}")
        mode, n = _mode(batch, concurrency, offline)
        if rate is not None and not simulate:
            raise InputError("--rate sets the simulated arrivals: add --simulate WORKLOAD (chat, rag, ...)")
        try:
            from inferplan.report.make import make_report, save_report
        except ModuleNotFoundError as e:
            raise InputError(f"inferplan report needs the report extra ({e.name} is missing): "
                             "pip install 'inferplan[report]'") from None
        data = make_report(
            model, simulate=simulate, rate=rate, sim_requests=sim_requests, audit=audit,
            hardware=hardware.split(",") if hardware else None, hw_class=hw_class, mode=mode,
            batch=n, input_len=input_len, output_len=output_len, precision=precision,
            kv_precision=kv_precision, sort=sort, detail=detail, calibration=calibration,
            hardware_files=tuple(hardware_file or ()), accuracy_csv=validation, requests=requests)
        if json_out:
            typer.echo(data.model_dump_json(indent=2))
        else:
            files = save_report(data, out, fmt)  # type: ignore[arg-type]
            typer.echo(str(files[0]))
            if len(files) > 1:
                typer.echo(f"{len(files) - 1} charts in {files[1].parent}", err=True)
        if not any(r.fits for r in data.compare.rows):
            raise typer.Exit(1)

    @app.command()
    def serve(
        host: Annotated[str, typer.Option("--host", help="Address to bind (default: this machine only)")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
        workers_timeout_s: Annotated[float, typer.Option("--timeout", parser=duration("--timeout"), help="Time one request may compute before a 503 (20s, 1m); the work is then stopped")] = 20.0,
        workers: Annotated[int, typer.Option("--workers", min=1, max=256, help="Worker processes computing at once")] = 4,
    ) -> None:
        """Serve the web page and the JSON API (OpenAPI at /openapi.json, docs at /docs)."""
        from inferplan.errors import InputError

        try:
            import uvicorn

            from inferplan.web.app import Limits, create_app
        except ModuleNotFoundError as e:
            raise InputError(f"inferplan serve needs the web extra ({e.name} is missing): "
                             "pip install 'inferplan[web,report]'") from None
        if not _is_loopback(host):
            typer.echo(f"Warning: binding {host}: anyone who can reach this address can use the "
                       "API (no authentication). Put it behind your own proxy/auth if exposed.",
                       err=True)
        _check_bindable(host, port)
        app_ = create_app(Limits(timeout_s=workers_timeout_s, workers=workers))
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"inferplan web app on http://{shown}:{port}/ (API docs /docs)", err=True)
        uvicorn.run(app_, host=host, port=port, log_level="warning")


def _check_bindable(host: str, port: int) -> None:
    """InputError (exit 2) when ``host:port`` cannot be bound (in use, no such address), before
    the server starts and announces an address it cannot serve."""
    import errno
    import socket

    from inferplan.errors import InputError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise InputError(f"--host {host}: {e.strerror}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(addr)
        except OSError as e:
            hint = "; choose another --port" if e.errno == errno.EADDRINUSE else ""
            raise InputError(f"cannot listen on {host}:{port}: {e.strerror}{hint}") from None
