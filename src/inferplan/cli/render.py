"""Human-readable output (rich), JSON and CSV. Only the CLI imports this.

Tables fit the terminal: :func:`fit_table` keeps the most important columns that fit
``COLUMNS`` (or the terminal's width; 200 when piped) and says which it hid. Numbers use one
format (``units.fmt_num``: thousands separators, SI prefixes, units).
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inferplan.units import fmt_bytes, fmt_layout, fmt_num, fmt_time_s

PIPED_WIDTH = 200  # when stdout is not a terminal and COLUMNS is unset


def width() -> int:
    """The output width: $COLUMNS, else the terminal's, else PIPED_WIDTH."""
    return max(40, shutil.get_terminal_size((PIPED_WIDTH, 24)).columns)


def console(stderr: bool = False) -> Console:
    """A console for this call (the width is read now, not at import)."""
    return Console(highlight=False, width=width(), stderr=stderr, soft_wrap=False)


def echo(text: str = "") -> None:
    console().print(text)


# --- JSON and CSV ------------------------------------------------------------------------------


def print_json(obj: Any) -> None:
    """One JSON object on stdout (pydantic models as their JSON)."""
    if hasattr(obj, "model_dump_json"):
        print(obj.model_dump_json(indent=2))
    else:
        print(json.dumps(obj, indent=2, default=str))


def print_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Rows as CSV on stdout (header first; every key of any row, in first-seen order); nested
    values as JSON."""
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else
                    json.dumps(r[c]) if isinstance(r.get(c), dict | list) else r.get(c)
                    for c in columns])


# --- tables that fit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A table column: header, justification, priority (higher stays longer), flexible (may be
    cut with an ellipsis rather than dropped)."""

    name: str
    justify: str = "left"
    priority: int = 5
    flexible: bool = False


def fit_table(cols: Sequence[Col], rows: Sequence[Sequence[str]], title: str | None = None,
              total: int | None = None) -> tuple[Table, list[str]]:
    """A rich table of the columns that fit ``total`` characters; returns (table, hidden names).

    Columns are kept whole (never one word per line): the lowest-priority columns are dropped
    until the rest fit; a flexible column (free text) shrinks with an ellipsis first."""
    total = total or width()
    natural = [max([len(c.name)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(cols)]
    keep = list(range(len(cols)))
    gap = 2  # one space of padding each side between columns

    def need(idx: list[int], flex_min: int = 12) -> int:
        return sum(min(natural[i], flex_min) if cols[i].flexible else natural[i] for i in idx) \
            + gap * (len(idx) - 1)

    for i in sorted(range(len(cols)), key=lambda i: cols[i].priority):
        if need(keep) <= total or len(keep) == 1:
            break
        keep.remove(i)
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
              show_edge=False, collapse_padding=True)
    # free-text columns get what the fixed ones leave (else rich squeezes the fixed ones away)
    flex = [i for i in keep if cols[i].flexible]
    fixed = sum(natural[i] for i in keep if not cols[i].flexible) + gap * (len(keep) - 1)
    flex_w = max(12, (total - fixed) // len(flex)) if flex else 0
    for i in keep:
        c = cols[i]
        t.add_column(c.name, justify=c.justify, no_wrap=True,  # type: ignore[arg-type]
                     overflow="ellipsis" if c.flexible else "fold",
                     min_width=None if c.flexible else natural[i],
                     max_width=min(natural[i], flex_w) if c.flexible else natural[i] + 1)
    for r in rows:
        t.add_row(*(str(r[i]) for i in keep))
    hidden = [cols[i].name for i in range(len(cols)) if i not in keep]
    return t, hidden


def print_table(cols: Sequence[Col], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    out = console()
    t, hidden = fit_table(cols, rows, title, out.width)
    out.print(t)
    if hidden:
        out.print(f"[dim]not shown at {out.width} columns: {', '.join(hidden)} "
                  "(a wider terminal, or --format csv/json)[/]")


def emit(fmt: str, obj: Any, rows: Callable[[], list[dict[str, Any]]],
         table: Callable[[], None], columns: Sequence[str] | None = None) -> None:
    """Print ``obj`` as JSON, ``rows()`` as CSV, or call ``table()``."""
    if fmt == "json":
        print_json(obj)
    elif fmt == "csv":
        print_csv(rows(), columns)
    else:
        table()


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    if 0 < x < 0.001:
        return "< $0.001"
    return f"${x:.3g}" if x < 100 else f"${x:,.0f}"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


# --- estimate ----------------------------------------------------------------------------------


def print_estimate(e, evidence_hint: bool = True) -> None:
    out = console()
    head = (f"[bold]{escape(e.model)}[/] on [bold]{e.devices} x {escape(e.hardware)}[/] ({e.engine}, "
            f"tp={e.tp} pp={e.pp} ep={e.ep}" + (f" x{e.dp} replicas" if e.dp > 1 else "") + ")"
            f"  weights {e.weight_precision}"
            + (f" (experts {e.expert_precision})" if e.expert_precision else "")
            + f", KV {e.kv_precision}")
    out.print(head)
    mode = {"batch": f"batch {e.batch}", "concurrency": f"concurrency {e.batch}",
            "offline": f"offline (batch {e.batch})"}[e.mode]
    out.print(f"workload: {mode}, {e.input_len:,} prompt + {e.output_len:,} output tokens")
    if e.assumptions.get("warning"):
        out.print(f"[yellow]warning: {escape(str(e.assumptions['warning']))}[/]")
    if e.assumptions.get("engine_options"):
        out.print(f"[yellow]engine options: {escape(str(e.assumptions['engine_options']))}[/]")
    m = e.memory
    out.print(f"memory per device: weights {fmt_bytes(m.weights_bytes)} + KV {fmt_bytes(m.kv_cache_bytes)}"
              f" + activations {fmt_bytes(m.activation_bytes)} + reserve {fmt_bytes(m.reserved_bytes)}"
              f" = {fmt_bytes(m.used_bytes_per_device)} of {fmt_bytes(m.capacity_bytes_per_device)}")
    if not e.fits:
        out.print(f"[red]does not fit[/]: {escape(str(e.reason))}")
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
        ("power", (fmt_num(e.power_w, unit="W") + (" (whole computer at the wall: an upper bound)"
                                                   if _wall_power(e.hardware) else ""))
         if e.power_w else "-"),
        ("bound", ", ".join(f"{k} {v}" for k, v in e.bound.items() if v) or "-"),
    ]
    iv = getattr(e, "intervals", None) or {}
    ranged: dict[str, tuple[str, Callable[[float | None], str]]] = {"TTFT": ("ttft_s", fmt_time_s), "TPOT": ("tpot_s", fmt_time_s),
              "end-to-end": ("e2e_latency_s", fmt_time_s),
              "tok/s per user": ("decode_tok_s_per_user", fmt_num),
              "output tok/s (system)": ("output_tok_s", fmt_num),
              "total tok/s (system)": ("total_tok_s", fmt_num),
              "prefill tok/s": ("prefill_tok_s", fmt_num), "requests/s": ("requests_per_s", fmt_num)}
    for k, v in rows:
        if k in ranged and ranged[k][0] in iv:
            fld, fmt = ranged[k]
            lo, hi = iv[fld]
            v = f"{v}  [dim](80%: {fmt(lo)} - {fmt(hi)})[/]"
        t.add_row(k, v)
    out.print(t)
    out.print(f"[dim]why: {escape(str(e.why))}[/]")
    a = e.assumptions
    eff = ", ".join(f"{k}={(fmt_time_s if k.endswith('_s') else fmt_num)(a[k]['value'])} ({a[k]['scope']})" for k in
                    ("bw_eff", "compute_eff", "layer_overhead_s", "step_overhead_s") if k in a)
    out.print(f"[dim]assumptions: {escape(eff)}; profile {escape(str(a.get('efficiency_profile')))}; "
              f"{escape(str(a.get('layout')))}[/]")
    if a.get("corpus_support"):
        hint = (" (--evidence N: the nearest published measurements, with the tool's held-out "
                "error on each)") if evidence_hint else ""
        out.print(f"[dim]data: {escape(str(a['corpus_support']))}{hint}[/]")
    if a.get("offload"):
        out.print(f"[dim]offload: {escape(str(a['offload']))}[/]")
    if a.get("offline_run"):
        out.print(f"run: {escape(str(a['offline_run']))}")


# --- compare and fit ---------------------------------------------------------------------------

COMPARE_COLS = (Col("#", "right", 9), Col("hardware", "left", 10), Col("dev", "right", 7),
                Col("TTFT", "right", 8), Col("TPOT", "right", 8), Col("tok/s/user", "right", 6),
                Col("out tok/s", "right", 6), Col("$/1M out", "right", 7),
                Col("J/tok", "right", 3), Col("bound", "left", 4), Col("why", "left", 1, True))


def _wall_power(hw_id: str) -> bool:
    """True when the catalog's power figures for `hw_id` are the whole computer's at the wall."""
    from inferplan.catalog.hardware import get_hardware
    from inferplan.errors import InferplanError

    try:
        return get_hardware(hw_id).power_scope == "system"
    except InferplanError:  # a device from a --hardware-file that is no longer loaded
        return False


def compare_rows(res) -> list[dict[str, Any]]:
    out = []
    for r in res.rows:
        e = r.estimate
        d: dict[str, Any] = {"hardware": r.hardware, "fits": r.fits, "reason": r.reason}
        if e is not None and r.fits:
            d |= {"devices": e.devices, "ttft_s": e.ttft_s, "tpot_s": e.tpot_s,
                  "decode_tok_s_per_user": e.decode_tok_s_per_user, "output_tok_s": e.output_tok_s,
                  "usd_per_1m_output_tokens": e.usd_per_1m_output_tokens,
                  "joules_per_output_token": e.joules_per_output_token,
                  "bound": e.bound.get("decode") or e.bound.get("prefill"),
                  "corpus_support": e.corpus_support}
        out.append(d)
    return out


def print_compare(res, show_unfit: bool = False) -> None:
    from inferplan.perf.intervals import UNMEASURED

    fits = [r for r in res.rows if r.fits]
    rows = []
    novel = wall = 0
    for i, r in enumerate(fits, 1):
        e = r.estimate
        mark = "*" if e.corpus_support == UNMEASURED else ""
        novel += bool(mark)
        at_wall = _wall_power(e.hardware) and e.joules_per_output_token is not None
        wall += at_wall
        rows.append((str(i), r.hardware + mark, str(e.devices), fmt_time_s(e.ttft_s), fmt_time_s(e.tpot_s),
                     fmt_num(e.decode_tok_s_per_user), fmt_num(e.output_tok_s),
                     _usd(e.usd_per_1m_output_tokens),
                     fmt_num(e.joules_per_output_token) + ("^" if at_wall else ""),
                     str(e.bound.get("decode") or e.bound.get("prefill")), e.why))
    print_table(COMPARE_COLS, rows, f"{res.model}: {res.input_len:,} in / {res.output_len:,} out, "
                f"{res.mode} (sorted by {res.sort})")
    out = console()
    if novel:
        out.print("[dim]* no measurement of its engine on that hardware in the bundled corpus: expect "
                  "larger errors (README, accuracy by corpus support)[/]")
    if wall:
        out.print("[dim]^ J/tok from the whole computer's power at the wall (a full-load maximum: an "
                  "upper bound); the others from the devices' board power alone[/]")
    unfit = [r for r in res.rows if not r.fits]
    if unfit and show_unfit:
        for r in unfit:
            out.print(f"[dim]{escape(r.hardware)}: {escape(str(r.reason))}[/]")
    elif unfit:
        out.print(f"[dim]{len(unfit)} hardware entries cannot run it (--show-unfit to list)[/]")


FIT_COLS = (Col("hardware", "left", 10), Col("class", "left", 3), Col("devices", "right", 9),
            Col("layout", "left", 4), Col("weights/dev", "right", 6), Col("KV/dev", "right", 5),
            Col("capacity/dev", "right", 7), Col("max batch", "right", 8))


def fit_rows(res) -> list[dict[str, Any]]:
    return [r.model_dump() for r in res.rows]


def print_fit(res) -> None:
    rows = [(r.hardware + ("!" if r.warnings else ""), r.hardware_class, str(r.devices),
             fmt_layout(r.tp, r.pp, r.ep),
             fmt_bytes(r.weights_bytes_per_device), fmt_bytes(r.kv_bytes_per_device),
             fmt_bytes(r.capacity_bytes_per_device), fmt_num(r.max_batch_at_context))
            for r in res.rows if r.fits]
    print_table(FIT_COLS, rows, f"{res.model} ({res.weight_precision}) with {res.batch:,} x "
                f"{res.context:,} tokens")
    for r in res.rows:
        if r.fits and r.warnings:
            console().print(f"[yellow]! {escape(r.hardware)}: {escape('; '.join(r.warnings))}[/]")
    n = sum(not r.fits for r in res.rows)
    if n:
        console().print(f"[dim]{n} hardware entries cannot hold it[/]")


# --- validate ----------------------------------------------------------------------------------

VALIDATION_COLS = (Col("id", "left", 9), Col("model", "left", 4), Col("hardware", "left", 5),
                   Col("metric", "left", 8), Col("measured", "right", 7),
                   Col("predicted", "right", 7), Col("APE", "right", 8), Col("status", "left", 9))


def validation_rows(rep) -> list[dict[str, Any]]:
    return [r.model_dump(exclude={"notes"}) for r in rep.rows]


def print_validation(rep) -> None:
    s = rep.summary
    rows = [(r.id, r.model_id, r.hardware_id, r.metric, fmt_num(r.measured), fmt_num(r.predicted),
             f"{r.ape:.0%}" if r.ape is not None else "-", r.status) for r in rep.rows]
    print_table(VALIDATION_COLS, rows, "validation rows")
    out = console()
    for r in rep.rows:
        if r.status == "over_2x":
            out.print(f"[yellow]{escape(r.id)} over 2x[/]: predicted {fmt_num(r.predicted)}, "
                      f"measured {fmt_num(r.measured)} ({r.metric})")
        elif r.status != "ok":
            out.print(f"[yellow]{escape(r.id)} {r.status}[/]: {escape(str(r.error))}")
    out.print(f"rows {s.rows:,}, predicted {s.predicted:,}, coverage {s.coverage:.0%}, "
              f"median APE {_pct(s.median_ape)}, p90 APE {_pct(s.p90_ape)}, "
              f"within 25% {_pct(s.within_25pct)}, over 2x {_pct(s.over_2x)}")
    for title, groups in (("by hardware class", s.by_hardware_class), ("by metric", s.by_metric)):
        g = [(k, f"{v['rows']:,}", _pct(v["median_ape"]), _pct(v["p90_ape"]))
             for k, v in sorted(groups.items())]
        print_table((Col("group", "left", 9), Col("rows", "right", 8), Col("median APE", "right", 7),
                     Col("p90 APE", "right", 6)), g, title)


# --- catalog listings --------------------------------------------------------------------------


def model_rows() -> list[dict[str, Any]]:
    from inferplan.models.registry import get_model, list_model_ids, model_info

    rows = []
    for mid in list_model_ids():
        spec, info = get_model(mid), model_info(mid)
        rows.append({"id": mid, "name": info.name, "architecture": spec.architecture,
                     "total_params": spec.total_params, "active_params": spec.active_params,
                     "layers": spec.num_layers, "native_precision": spec.native_precision,
                     "aliases": list(info.aliases)})
    return rows


def print_models(fmt: str) -> None:
    rows = model_rows()
    emit(fmt, {"models": rows}, lambda: rows, lambda: print_table(
        (Col("id", "left", 9), Col("architecture", "left", 3), Col("params", "right", 8),
         Col("active", "right", 6), Col("layers", "right", 4), Col("native", "left", 5)),
        [(r["id"], r["architecture"], fmt_num(r["total_params"]), fmt_num(r["active_params"]),
          str(r["layers"]), r["native_precision"]) for r in rows],
        "bundled models (active: parameters one token uses, embedding and LM head included)"))


def print_model_card(c) -> None:
    """``models show``: what the estimates rest on, one line per fact."""
    out = console()
    moe = c.active_params < c.total_params
    out.print(f"[bold]{escape(c.id)}[/] ({escape(c.architecture)}{', ' + c.family if c.family else ''})")
    out.print(f"source: {escape(c.source or '-')}")
    out.print(f"parameters: {fmt_num(c.total_params)}" + (
        f", {fmt_num(c.active_params)} per token ({fmt_num(c.active_params - c.embedding_params)} "
        "without the input embedding)" if moe else ""))
    exp = f", routed experts {c.native_expert_precision}" if c.native_expert_precision else ""
    out.print(f"weights: {fmt_bytes(c.weights_bytes)} at {c.native_precision}{exp}")
    out.print(f"layers: {c.layers}, hidden {c.hidden_size:,}, vocabulary {c.vocab_size:,}"
              f" ({'tied' if c.tie_word_embeddings else 'untied'} embeddings), context "
              f"{c.max_context_tokens:,} tokens")
    for k in c.layer_kinds:
        win = f", window {k.window_tokens:,}" if k.window_tokens else ""
        ffn = (f"MoE {k.experts} experts, {k.experts_per_token} per token" if k.ffn == "moe" else "dense FFN")
        out.print(f"  {k.layers} x {k.mixer}{win}; {ffn}")
    state = f" + {fmt_num(c.state_elems_per_seq)} state elements per sequence" if c.state_elems_per_seq else ""
    out.print(f"KV cache: {fmt_num(c.kv_elems_per_token)} elements per token in full-attention layers{state}")
    out.print("  per sequence (16-bit): " + ", ".join(f"{fmt_bytes(b)} at {n:,}" for n, b in c.kv_bytes_per_seq.items()))
    if c.notes:
        out.print(f"[dim]{escape(c.notes)}[/]")


def _peak(h) -> float | None:
    return h.peak_flops.get("bf16") or h.peak_flops.get("fp16") or h.peak_flops.get("fp32")


def print_hardware_list(hw_class, files: tuple[Path, ...], fmt: str) -> None:
    from inferplan.compare import select_hardware

    hws = select_hardware(None, hw_class, files)

    def rows() -> list[dict[str, Any]]:
        return [{"id": h.id, "name": h.name, "class": h.hw_class, "vendor": h.vendor,
                 "memory_bytes": h.memory_bytes, "memory_bw_bytes_s": h.memory_bw_bytes_s,
                 "bf16_flops": _peak(h), "tdp_w": h.tdp_w, "usd_per_hour": h.price.usd_per_hour}
                for h in hws]

    emit(fmt, {"hardware": [h.model_dump() for h in hws]}, rows, lambda: print_table(
        (Col("id", "left", 9), Col("class", "left", 5), Col("memory", "right", 8),
         Col("bandwidth", "right", 7), Col("bf16 peak", "right", 6), Col("TDP", "right", 3),
         Col("$/h", "right", 4)),
        [(h.id, h.hw_class, fmt_bytes(h.memory_bytes), fmt_num(h.usable_bw_bytes_s, unit="B/s")
          + ("*" if h.usable_bw_bytes_s < h.memory_bw_bytes_s else ""),
          fmt_num(_peak(h), unit="FLOP/s") if _peak(h) else "-",
          fmt_num(h.tdp_w, unit="W") if h.tdp_w else "-", _usd(h.price.usd_per_hour)) for h in hws],
        "hardware catalog (*: bandwidth the cores reach, below the package's)"))


def _unit_value(key: str, v: Any) -> str:
    """A hardware field with its unit, from the field name (SI throughout)."""
    if isinstance(v, bool) or not isinstance(v, int | float) or key.endswith("_year"):
        return str(v)  # (a year is a label, not a quantity: 2024, not 2,024)
    if key.endswith("_bytes_s"):
        return fmt_num(v, unit="B/s")
    if key.endswith("_bytes"):
        return fmt_bytes(v)
    if "flops" in key:
        return fmt_num(v, unit="FLOP/s")
    if key.endswith("_w"):
        return fmt_num(v, unit="W")
    if key.endswith("_s"):
        return fmt_time_s(v)
    if key.startswith("usd"):
        return _usd(v)
    return fmt_num(v) if isinstance(v, float) else f"{v:,}"


def hardware_lines(d: dict[str, Any], indent: str = "") -> list[tuple[str, str]]:
    """(label, value) lines of a hardware entry: units attached, dicts and lists unfolded."""
    lines: list[tuple[str, str]] = []
    for k, v in d.items():
        if v in (None, [], {}, "") or k == "field_sources":
            continue
        if isinstance(v, dict):
            lines.append((indent + k, ""))
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    lines += hardware_lines({kk: vv}, indent + "  ")
                elif vv not in (None, [], {}, ""):
                    lines.append((f"{indent}  {kk}", _unit_value(kk, vv) if k != "peak_flops" else
                                  f"{fmt_num(vv / 1e12)} TOPS" if kk.startswith(("int", "uint"))  # integer ops
                                  else fmt_num(vv, unit="FLOP/s")))
        elif isinstance(v, list):
            if all(isinstance(x, dict) for x in v):
                for i, x in enumerate(v, 1):
                    lines += hardware_lines({f"{k} {i}": x}, indent)
            else:
                lines.append((indent + k, ", ".join(str(x) for x in v)))
        else:
            lines.append((indent + k, _unit_value(k, v)))
    return lines


def print_hardware(hw_id: str, files: tuple[Path, ...], fmt: str) -> None:
    from inferplan.catalog.hardware import get_hardware

    h = get_hardware(hw_id, files)
    d = h.model_dump()
    lines = hardware_lines(d)

    def table() -> None:
        t = Table(show_header=False, box=None, pad_edge=False)
        t.add_column(style="dim", no_wrap=True)
        t.add_column(overflow="fold")
        for k, v in lines:
            t.add_row(escape(k), escape(v))
        out = console()
        out.print(t)
        if d.get("field_sources"):
            out.print("[dim]sources:[/]")
            for k, v in d["field_sources"].items():
                out.print(f"[dim]  {escape(k)}: {escape(str(v))}[/]")

    emit(fmt, d, lambda: [{"field": k.strip(), "value": v} for k, v in lines], table)


def print_precisions(fmt: str) -> None:
    from inferplan.catalog.precisions import precision_catalog

    ps = list(precision_catalog().values())
    emit(fmt, {"precisions": [p.model_dump() for p in ps]},
         lambda: [p.model_dump() for p in ps], lambda: print_table(
             (Col("id", "left", 9), Col("bits/weight", "right", 8), Col("kind", "left", 5),
              Col("computes in", "left", 4), Col("description", "left", 1, True)),
             [(p.id, f"{p.bits_per_weight:g}", p.kind, " > ".join(p.compute), p.description)
              for p in ps], "precisions"))


def print_engines(fmt: str) -> None:
    from inferplan.catalog.engines import engine_catalog
    from inferplan.perf.slots import LLAMA_SERVER_DEFAULT_SLOTS, SLOT_ENGINES

    es = list(engine_catalog().values())

    def dump(e: Any) -> dict[str, Any]:
        # llama-server batches its slots continuously (perf/slots.py); the engine file holds
        # the offline tool's defaults (llama-cli/llama-bench: one sequence)
        server = {"server": {"slots": LLAMA_SERVER_DEFAULT_SLOTS, "continuous_batching": True,
                             "option": "--slots (llama-server --parallel)"}}
        return {**e.model_dump(), **(server if e.id in SLOT_ENGINES else {})}

    def seqs(e: Any) -> str:
        span = {x for lim in e.limits for x in (lim.max_num_seqs, lim.offline_max_num_seqs or
                                                lim.max_num_seqs)} - {e.max_num_seqs}
        return (f"{e.max_num_seqs:,}" + (f" (server {LLAMA_SERVER_DEFAULT_SLOTS})" if e.id in SLOT_ENGINES else "")
                + (f" ({min(span | {e.max_num_seqs}):,}-{max(span | {e.max_num_seqs}):,})" if span else ""))

    def table() -> None:
        print_table(
            (Col("id", "left", 9), Col("classes", "left", 6), Col("graphs", "left", 3),
             Col("max seqs", "right", 4), Col("mem util", "right", 4),
             Col("KV default", "left", 5), Col("prompt steps", "left", 5)),
            [(e.id, ",".join(e.hardware_classes), "yes" if e.graph_capture else "no",
              seqs(e), f"{e.memory_utilization:.0%}", e.default_kv_precision, steps(e))
             for e in es], "engines")
        console().print("[dim]max seqs: the default; a range in brackets: the engine's limits per device "
                        "or run kind (online serving / offline) span it (--json lists them)[/]")

    def steps(e: Any) -> str:
        return ("first" if e.prefill_first else "mixed" if e.continuous_batching
                else "mixed (server)" if e.id in SLOT_ENGINES else "-")

    emit(fmt, {"engines": [dump(e) for e in es]}, lambda: [dump(e) for e in es], table)
