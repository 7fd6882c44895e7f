"""Human-readable output (rich). Only the CLI imports this; `--json` bypasses it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inferplan.units import fmt_bytes, fmt_num, fmt_time_s

# Tables are wide: when piped or captured, do not squeeze them into 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:.3g}" if x < 100 else f"${x:,.0f}"


def print_estimate(e) -> None:
    head = (f"[bold]{e.model}[/] on [bold]{e.devices} x {e.hardware}[/] ({e.engine}, "
            f"tp={e.tp} pp={e.pp} ep={e.ep}" + (f" x{e.dp} replicas" if e.dp > 1 else "") + ")"
            f"  weights {e.weight_precision}"
            + (f" (experts {e.expert_precision})" if e.expert_precision else "")
            + f", KV {e.kv_precision}")
    out.print(head)
    mode = {"batch": f"batch {e.batch}", "concurrency": f"concurrency {e.batch}",
            "offline": f"offline (batch {e.batch})"}[e.mode]
    out.print(f"workload: {mode}, {e.input_len} prompt + {e.output_len} output tokens")
    if e.assumptions.get("warning"):
        out.print(f"[yellow]warning: {escape(e.assumptions['warning'])}[/]")
    m = e.memory
    out.print(f"memory per device: weights {fmt_bytes(m.weights_bytes)} + KV {fmt_bytes(m.kv_cache_bytes)}"
              f" + activations {fmt_bytes(m.activation_bytes)} + reserve {fmt_bytes(m.reserved_bytes)}"
              f" = {fmt_bytes(m.used_bytes_per_device)} of {fmt_bytes(m.capacity_bytes_per_device)}")
    if not e.fits:
        out.print(f"[red]does not fit[/]: {e.reason}")
        return
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="dim")
    t.add_column()
    rows = [
        ("TTFT", fmt_time_s(e.ttft_s)),
        ("TPOT", fmt_time_s(e.tpot_s)),
        ("end-to-end", fmt_time_s(e.e2e_latency_s)),
        ("tok/s per user", fmt_num(e.decode_tok_s_per_user)),
        ("output tok/s (system)", fmt_num(e.output_tok_s)),
        ("total tok/s (system)", fmt_num(e.total_tok_s)),
        ("prefill tok/s", fmt_num(e.prefill_tok_s)),
        ("requests/s", fmt_num(e.requests_per_s)),
        ("$ / 1M input", _usd(e.usd_per_1m_input_tokens)),
        ("$ / 1M output", _usd(e.usd_per_1m_output_tokens)),
        ("J / output token", fmt_num(e.joules_per_output_token)),
        ("power", f"{e.power_w:,.0f} W" if e.power_w else "-"),
        ("bound", f"prefill {e.bound.get('prefill')}, decode {e.bound.get('decode')}"),
    ]
    iv = getattr(e, "intervals", None) or {}
    ranged = {"TTFT": ("ttft_s", fmt_time_s), "TPOT": ("tpot_s", fmt_time_s),
              "end-to-end": ("e2e_latency_s", fmt_time_s),
              "tok/s per user": ("decode_tok_s_per_user", fmt_num),
              "output tok/s (system)": ("output_tok_s", fmt_num),
              "total tok/s (system)": ("total_tok_s", fmt_num),
              "prefill tok/s": ("prefill_tok_s", fmt_num), "requests/s": ("requests_per_s", fmt_num)}
    for k, v in rows:
        fld, fmt = ranged.get(k, (None, None))
        if fld in iv and fmt is not None:
            lo, hi = iv[fld]
            v = f"{v}  [dim](80%: {fmt(lo)} - {fmt(hi)})[/]"
        t.add_row(k, v)
    out.print(t)
    out.print(f"[dim]why: {e.why}[/]")
    a = e.assumptions
    eff = ", ".join(f"{k}={a[k]['value']:.3g} ({a[k]['scope']})" for k in
                    ("bw_eff", "compute_eff", "layer_overhead_s", "step_overhead_s") if k in a)
    out.print(f"[dim]assumptions: {escape(eff)}; profile {a.get('efficiency_profile')}; "
              f"{escape(str(a.get('layout')))}[/]")


def print_compare(res, show_unfit: bool = False) -> None:
    fits = [r for r in res.rows if r.fits]
    t = Table(title=f"{res.model}: {res.input_len} in / {res.output_len} out, {res.mode}"
              f" (sorted by {res.sort})", title_justify="left")
    for col, just in (("#", "right"), ("hardware", "left"), ("dev", "right"), ("TTFT", "right"),
                      ("TPOT", "right"), ("tok/s/user", "right"), ("tok/s total", "right"),
                      ("$/1M out", "right"), ("J/tok", "right"), ("bound", "left"), ("why", "left")):
        t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for i, r in enumerate(fits, 1):
        e = r.estimate
        t.add_row(str(i), r.hardware, str(e.devices), fmt_time_s(e.ttft_s), fmt_time_s(e.tpot_s),
                  fmt_num(e.decode_tok_s_per_user), fmt_num(e.output_tok_s),
                  _usd(e.usd_per_1m_output_tokens), fmt_num(e.joules_per_output_token),
                  str(e.bound.get("decode") or e.bound.get("prefill")), e.why)
    out.print(t)
    unfit = [r for r in res.rows if not r.fits]
    if unfit and show_unfit:
        for r in unfit:
            out.print(f"[dim]{r.hardware}: {r.reason}[/]")
    elif unfit:
        out.print(f"[dim]{len(unfit)} hardware entries cannot run it (--show-unfit to list)[/]")


def print_fit(res) -> None:
    t = Table(title=f"{res.model} ({res.weight_precision}) with {res.batch} x {res.context} tokens",
              title_justify="left")
    for c in ("hardware", "class", "devices", "layout", "weights/dev", "KV/dev", "capacity/dev",
              "max batch"):
        t.add_column(c)
    for r in res.rows:
        if not r.fits:
            continue
        t.add_row(r.hardware, r.hardware_class, str(r.devices), f"tp{r.tp} pp{r.pp}",
                  fmt_bytes(r.weights_bytes_per_device), fmt_bytes(r.kv_bytes_per_device),
                  fmt_bytes(r.capacity_bytes_per_device), str(r.max_batch_at_context))
    out.print(t)
    n = sum(not r.fits for r in res.rows)
    if n:
        out.print(f"[dim]{n} hardware entries cannot hold it[/]")


def print_validation(rep) -> None:
    s = rep.summary
    t = Table(title="validation rows", title_justify="left")
    for c in ("id", "model", "hardware", "metric", "measured", "predicted", "APE", "status"):
        t.add_column(c)
    for r in rep.rows:
        t.add_row(r.id, r.model_id, r.hardware_id, r.metric, fmt_num(r.measured),
                  fmt_num(r.predicted), f"{r.ape:.0%}" if r.ape is not None else "-", r.status)
    out.print(t)
    for r in rep.rows:
        if r.status != "ok":
            out.print(f"[yellow]{r.id} {r.status}[/]: {r.error}")
    out.print(f"rows {s.rows}, predicted {s.predicted}, coverage {s.coverage:.0%}, "
              f"median APE {_pct(s.median_ape)}, p90 APE {_pct(s.p90_ape)}, "
              f"within 25% {_pct(s.within_25pct)}, over 2x {_pct(s.over_2x)}")
    for title, groups in (("by hardware class", s.by_hardware_class), ("by metric", s.by_metric)):
        g = Table(title=title, title_justify="left")
        for c in ("group", "rows", "median APE", "p90 APE"):
            g.add_column(c)
        for k, v in sorted(groups.items()):
            g.add_row(k, str(v["rows"]), _pct(v["median_ape"]), _pct(v["p90_ape"]))
        out.print(g)


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def print_models(json_out: bool) -> None:
    from inferplan.models.registry import get_model, list_model_ids, model_info

    rows = []
    for mid in list_model_ids():
        spec, info = get_model(mid), model_info(mid)
        rows.append({"id": mid, "name": info.name, "architecture": spec.architecture,
                     "total_params": spec.total_params, "active_params": spec.active_params,
                     "layers": spec.num_layers, "native_precision": spec.native_precision,
                     "aliases": list(info.aliases)})
    if json_out:
        print(json.dumps({"models": rows}, indent=2))
        return
    t = Table(title="bundled models", title_justify="left")
    for c in ("id", "architecture", "params", "active", "layers", "native"):
        t.add_column(c)
    for r in rows:
        t.add_row(r["id"], r["architecture"], f"{r['total_params'] / 1e9:.3g}B",
                  f"{r['active_params'] / 1e9:.3g}B", str(r["layers"]), r["native_precision"])
    out.print(t)


def print_hardware_list(hw_class, files: tuple[Path, ...], json_out: bool) -> None:
    from inferplan.compare import select_hardware

    hws = select_hardware(None, hw_class, files)
    if json_out:
        print(json.dumps({"hardware": [h.model_dump() for h in hws]}, indent=2))
        return
    t = Table(title="hardware catalog", title_justify="left")
    for c in ("id", "class", "memory", "bandwidth", "bf16 peak", "TDP", "$/h"):
        t.add_column(c)
    for h in hws:
        bf = h.peak_flops.get("bf16") or h.peak_flops.get("fp16") or h.peak_flops.get("fp32")
        t.add_row(h.id, h.hw_class, fmt_bytes(h.memory_bytes), f"{h.memory_bw_bytes_s / 1e12:.3g} TB/s",
                  f"{bf / 1e12:.3g} TF" if bf else "-", f"{h.tdp_w:.0f} W" if h.tdp_w else "-",
                  _usd(h.price.usd_per_hour))
    out.print(t)


def print_hardware(hw_id: str, files: tuple[Path, ...], json_out: bool) -> None:
    from inferplan.catalog.hardware import get_hardware

    h = get_hardware(hw_id, files)
    if json_out:
        print(json.dumps(h.model_dump(), indent=2))
        return
    t = Table(show_header=False, box=None)
    t.add_column(style="dim")
    t.add_column(overflow="fold")
    for k, v in h.model_dump().items():
        if v in (None, [], {}, ""):
            continue
        t.add_row(k, str(v))
    out.print(t)


def print_precisions(json_out: bool) -> None:
    from inferplan.catalog.precisions import precision_catalog

    ps = list(precision_catalog().values())
    if json_out:
        print(json.dumps({"precisions": [p.model_dump() for p in ps]}, indent=2))
        return
    t = Table(title="precisions", title_justify="left")
    for c in ("id", "bits/weight", "kind", "computes in", "description"):
        t.add_column(c)
    for p in ps:
        t.add_row(p.id, f"{p.bits_per_weight:g}", p.kind, " > ".join(p.compute), p.description)
    out.print(t)


def print_engines(json_out: bool) -> None:
    from inferplan.catalog.engines import engine_catalog

    es = list(engine_catalog().values())
    if json_out:
        print(json.dumps({"engines": [e.model_dump() for e in es]}, indent=2))
        return
    t = Table(title="engines", title_justify="left")
    for c in ("id", "classes", "graphs", "max seqs", "mem util", "KV default"):
        t.add_column(c)
    for e in es:
        t.add_row(e.id, ",".join(e.hardware_classes), "yes" if e.graph_capture else "no",
                  str(e.max_num_seqs), f"{e.memory_utilization:.0%}", e.default_kv_precision)
    out.print(t)
