"""Mechanical checks over the calibration corpus (src/inferplan/calib/data/corpus/*.csv).

Usage: python tools/check_corpus.py [--json] [corpus_dir]

Errors (exit 1) are schema and bookkeeping faults that make a row unusable or untraceable:
header, unique ids across all files, source column = file slug, metric/mode/reliability ids,
finite positive values, integer counts, a source reference and a date in `notes`, a stated
normalization for system totals over more than one device.

Findings for a human look (exit 0; listed, never deleted here):
- duplicates: the same configuration and metric with the same value (within 0.5 %) in two
  sources, or in the shared published.csv (likely double counting);
- implausible: a value beyond a first-principles roof computed from the catalog:
  decode speed per user <= P x peak memory bandwidth / bytes of the active weights
  (P = devices one sequence's weights are spread over = tp, else num_devices / pp; weights
  counted at the row's weight precision (catalog bits per weight) without higher-precision
  heads and without an untied embedding table, of which a step reads one row); tpot_ms and e2e_latency_s the matching floors; prefill and offline throughput
  <= num_devices x the largest dense peak ops/s / (2 x active params); TTFT the matching floor;
  batch/concurrency output throughput <= batch x the decode roof;
- fixed-rate hints: notes naming a finite --request-rate (fixed-QPS runs do not belong).

Rows reviewed in the audit (AUDIT.md) are listed in REVIEWED; the test in
tests/calib/test_corpus_check.py fails when an implausible row appears that nobody reviewed.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "src" / "inferplan" / "calib" / "data" / "corpus"
PUBLISHED = ROOT.parent / "shared" / "calibration" / "published.csv"

HEADER = ["id", "source", "model_id", "hardware_id", "num_devices", "tp", "pp", "ep",
          "weight_precision", "kv_precision", "engine", "mode", "batch", "input_len",
          "output_len", "metric", "value", "reliability", "notes"]
METRICS = {"decode_tok_s_per_user", "tpot_ms", "ttft_ms", "prefill_tok_s", "output_tok_s",
           "total_tok_s", "e2e_latency_s", "requests_per_s"}
MODES = {"batch", "concurrency", "offline_max"}
SYSTEM_TOTALS = {"output_tok_s", "total_tok_s", "requests_per_s"}
# words that state how a multi-device total was normalized (or that none was needed)
CONVERSION_WORDS = re.compile(
    r"per[- ]gpu|per[- ]device|per[- ]node|whole|system|multiplied|no conversion|all \d* ?gpus|"
    r"x ?\d+ (gpus|devices|nodes)|client throughput|tp group", re.I)
SOURCE_REF = re.compile(r"src=|https?://|@[0-9a-f]{7,40}", re.I)
DATE = re.compile(r"date=\s*\d{4}")
# Sources reserved for independent validation (coord/RULES.md): a row citing one is an error.
RESERVED = re.compile(
    r"developer-guide/perf-overview|docs/source/performance\.md|H200launch|docs\.nvidia\.com/nim|"
    r"\bNIM benchmark|oracle|vultr|lmsys\.org/blog/2025-0[5-7]|justine\.lol|bitnet\.c\b|"
    r"inference_results_v4\.1|inference_results_v5\.1|MLPerf Inference v(4\.1|5\.1)|"
    r"gaudi-3 model-performance|intel\.com/.*gaudi.*model-performance|jetstream-pytorch|"
    r"benches/dgx-spark|mlx-lm/BENCHMARKS|dstackai/benchmarks|blog\.vllm\.ai/2026|_posts/2026-|"
    r"sgl-project/sglang/issues|sambanova|ikawrakow/ik_llama\.cpp/(discussions/95|pull/124)", re.I)
FIXED_RATE = re.compile(r"(--request-rate|request[_ ]rate)[ =]+(\d+(\.\d+)?)\b", re.I)

# Rows flagged implausible by this tool and reviewed by hand in the audit (decision in
# src/inferplan/calib/data/corpus/AUDIT.md). Keep the reason short.
REVIEWED: dict[str, str] = {
    "ikq-022": "value recurs as the main-branch Q4_0_R4 figure in PR #158 (251.00); no int8 peak in the catalog",
    "ikq-028": "value recurs as the main-branch Q8_0_R4 figure in PR #158 (234.40); no int8 peak",
    "ikq-034": "verified (PR #121 236.33); catalog lacks an AVX2 int8 peak for this CPU",
    "ikq-040": "verified (PR #122 231.53); catalog lacks an AVX2 int8 peak for this CPU",
    "ikq-046": "verified (PR #134 262.34); catalog lacks an AVX2 int8 peak for this CPU",
    "mlcb-056": "verified (24.39); GPTQ-4bit: 86% of the 4.15-bpw roof (now costed as gptq-int4)",
}
# Duplicate pairs (same configuration and value within 0.5 %) reviewed in the audit: distinct
# measurements (other quant, other engine version, other MLPerf submitter), not double counting.
REVIEWED_PAIRS: set[frozenset[str]] = {frozenset(p.split("~")) for p in (
    "mlp50-201~mlp50-202",  # MI325X llama-2-70b Offline by two submitters (ASUSTeK, GigaComputing)
    "ikq-032~ikq-038", "ikq-016~ikq-066", "ixf-044~ixf-221", "ixf-079~ixf-091",
    "lcm-002~lcm-003", "lcm-006~lcm-007", "mlp50-008~mlp50-017", "mlp50-003~mlp50-018",
    "mlp50-018~mlp50-019", "mlp50-012~mlp50-020", "prem-012~prem-016", "tmac-002~tmac-003",
    # TRT-LLM issue #5929: FP4 on B200 runs at ~the same ITL/TTFT whatever the EP size (the
    # issue's point); distinct layouts (EP None / 4 / 8), values as printed
    "trt5929-007~trt5929-011", "trt5929-008~trt5929-010", "trt5929-019~trt5929-023",
    # InferenceX median TTFT, MI300X conc 4: SGLang 0.5.9 (2026-02) and 0.5.12 (2026-05) runs
    "ixf-001~ixf-199",
    # MLPerf v5.0 405B: NVIDIA's DGX B200 (mlp50-101) and Supermicro's SYS-A21GE-NBRT B200 runs of one
    # config, two submitters, values as logged (1526.29 vs 1521.74)
    "mlp50-101~mlp50-112",
    # AMD MI300X 70B batch-64 latency: the ROCm blog's vLLM 0.6.7 run (fp8 KV, 2025-01) and the
    # dev-docker README's vLLM 0.10.0 run (fp16 KV, 2025-08), 32.548 vs 32.64 s: two releases
    "amdb-012~rvd-008",
    # optimum-neuron Llama-3.1-8B on inf2 at 1 user, equal to within 0.5%: TGI 2024-10 vs TGI
    # 2025-06 (two releases a year apart), and vLLM DP3 (2025-09) vs TGI 2025-06 (two engines)
    "onb-162~onb-172", "onb-083~onb-173",
    # optimum-neuron Llama-3-70B on trn1 at 1 and 4 clients: the batch-4 and batch-8 compiled
    # models (tgi-results.csv vs tgi-results-batchsize-8.csv) prefill alike
    "onb-336~onb-366", "onb-340~onb-370",
)}


@dataclass
class Report:
    rows: int = 0
    files: int = 0
    errors: list[str] = field(default_factory=list)
    duplicates: list[tuple[str, str, str]] = field(default_factory=list)  # (id a, id b, text)
    implausible: list[tuple[str, str]] = field(default_factory=list)  # (row id, reason)
    fixed_rate: list[str] = field(default_factory=list)
    unchecked_ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def as_dict(self) -> dict:
        return {"rows": self.rows, "files": self.files, "errors": self.errors,
                "duplicates": [d[2] for d in self.duplicates],
                "implausible": [{"id": i, "reason": r} for i, r in self.implausible],
                "fixed_rate": self.fixed_rate,
                "unchecked_ids": {k: sorted(v) for k, v in self.unchecked_ids.items()}}


def _int(s: str) -> int | None:
    return int(s) if s.strip() else None


def read_corpus(corpus: Path, rep: Report) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted(corpus.glob("*.csv")):
        if path.name == PUBLISHED.name:
            continue  # the bundled copy of shared/calibration/published.csv, checked as `published`
        rep.files += 1
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            if header != HEADER:
                rep.errors.append(f"{path.name}: header differs from the canonical schema")
                continue
            for n, rec in enumerate(reader, start=2):
                if len(rec) != len(HEADER):
                    rep.errors.append(f"{path.name}:{n}: {len(rec)} fields, expected {len(HEADER)}")
                    continue
                row = dict(zip(HEADER, rec, strict=True))
                row["_file"] = path.stem
                rows.append(row)
    rep.rows = len(rows)
    return rows


def check_row(r: dict[str, str], rep: Report) -> None:
    rid = r["id"]
    if r["source"] != r["_file"]:
        rep.errors.append(f"{rid}: source '{r['source']}' != file slug '{r['_file']}'")
    for col in ("id", "model_id", "hardware_id", "weight_precision", "engine"):
        if not r[col].strip():
            rep.errors.append(f"{rid}: empty {col}")
    if r["metric"] not in METRICS:
        rep.errors.append(f"{rid}: unknown metric '{r['metric']}'")
    if r["mode"] not in MODES:
        rep.errors.append(f"{rid}: unknown mode '{r['mode']}'")
    if r["reliability"] not in ("A", "B", "C"):
        rep.errors.append(f"{rid}: reliability '{r['reliability']}' not in A/B/C")
    try:
        v = float(r["value"])
        if not (math.isfinite(v) and v > 0):
            rep.errors.append(f"{rid}: value {r['value']} not finite and positive")
    except ValueError:
        rep.errors.append(f"{rid}: value '{r['value']}' is not a number")
    for col in ("num_devices", "tp", "pp", "ep", "batch", "input_len", "output_len"):
        try:
            x = _int(r[col])
            if x is not None and (x < 0 or (x == 0 and col not in ("input_len", "output_len"))):
                rep.errors.append(f"{rid}: {col}={x} out of range")
        except ValueError:
            rep.errors.append(f"{rid}: {col} '{r[col]}' is not an integer")
    if r["mode"] in ("batch", "concurrency") and not r["batch"].strip():
        rep.errors.append(f"{rid}: mode {r['mode']} without batch")
    notes = r["notes"]
    if not SOURCE_REF.search(notes):
        rep.errors.append(f"{rid}: notes lack a source reference (src=, URL or @commit)")
    if not DATE.search(notes):
        rep.errors.append(f"{rid}: notes lack date=YYYY")
    try:
        nd = _int(r["num_devices"])
    except ValueError:
        nd = None
    if nd and nd > 1 and r["metric"] in SYSTEM_TOTALS and not CONVERSION_WORDS.search(notes):
        rep.errors.append(f"{rid}: system total over {nd} devices without a stated normalization")
    bad = RESERVED.search(notes)
    if bad:
        rep.errors.append(f"{rid}: notes cite a reserved source ('{bad.group(0)}')")
    m = FIXED_RATE.search(notes)
    if m and "inf" not in notes[m.start():m.end() + 4].lower():
        rep.fixed_rate.append(f"{rid}: notes mention '{m.group(0)}'")


def _key(r: dict[str, str], loose: bool) -> tuple:
    cols = ["model_id", "hardware_id", "num_devices", "mode", "batch", "input_len", "output_len",
            "metric"]
    if not loose:
        cols += ["tp", "pp", "ep", "weight_precision", "kv_precision", "engine"]
    return tuple(r.get(c, "").strip() for c in cols)


def find_duplicates(rows: list[dict[str, str]], published: list[dict[str, str]], rep: Report) -> None:
    """Same configuration (loose key: model, hardware, devices, mode, batch, lengths, metric) and
    the same value within 0.5 % in two rows: flagged as likely double counting."""
    groups: dict[tuple, list[dict[str, str]]] = defaultdict(list)
    for r in rows + published:
        groups[_key(r, loose=True)].append(r)
    seen: set[tuple[str, str]] = set()
    for grp in groups.values():
        for i, a in enumerate(grp):
            for b in grp[i + 1:]:
                va, vb = float(a["value"] or "nan"), float(b["value"] or "nan")
                if not (va > 0 and vb > 0) or abs(va - vb) > 0.005 * max(va, vb):
                    continue
                pair = tuple(sorted((a["id"], b["id"])))
                if pair in seen:
                    continue
                seen.add(pair)
                where = "same source" if a["source"] == b["source"] else "across sources"
                exact = _key(a, False) == _key(b, False)
                rep.duplicates.append((pair[0], pair[1],
                    f"{pair[0]} ~ {pair[1]} ({where}; {a['model_id']} {a['hardware_id']} "
                    f"{a['metric']}={a['value']} vs {b['value']}; "
                    f"{'all config columns equal' if exact else 'config columns differ'})"))


def _roofs(r: dict[str, str], rep: Report) -> dict[str, float] | None:
    """First-principles bounds for one row from the catalog (None when an id is unknown)."""
    from inferplan.catalog.hardware import get_hardware
    from inferplan.catalog.precisions import get_precision
    from inferplan.errors import InferplanError
    from inferplan.models.registry import get_model

    try:
        model = get_model(r["model_id"])
    except (InferplanError, OSError, ValueError):
        rep.unchecked_ids["model"].add(r["model_id"])
        return None
    try:
        hw = get_hardware(r["hardware_id"])
    except InferplanError:
        rep.unchecked_ids["hardware"].add(r["hardware_id"])
        return None
    try:
        prec = get_precision(r["weight_precision"])
    except InferplanError:
        rep.unchecked_ids["precision"].add(r["weight_precision"])
        return None
    nd = _int(r["num_devices"]) or 1
    tp, pp = _int(r["tp"]), _int(r["pp"]) or 1
    spread = tp if tp else max(1, nd // pp)
    # a decode step reads one row of an untied embedding table, not all of it
    read_params = model.active_params - (0 if model.tie_word_embeddings else model.embedding_params)
    if "ubatch=1" in r["notes"]:
        # llama-bench pp at microbatch 1: only the last pass computes logits, the others skip
        # the LM head (output.weight, or the tied embedding)
        read_params -= model.embedding_params if model.tie_word_embeddings else model.lm_head_params
    weight_bytes = read_params * prec.bits_per_weight / 8  # bytes per decode step
    decode_roof = spread * hw.memory_bw_bytes_s / weight_bytes  # tok/s per sequence
    peak = max(hw.peak_flops.values()) if hw.peak_flops else float("nan")
    compute_roof = nd * peak / (2 * model.active_params)  # tok/s of the system
    return {"decode": decode_roof, "compute": compute_roof}


def find_implausible(rows: list[dict[str, str]], rep: Report) -> None:
    for r in rows:
        try:
            v = float(r["value"])
            roofs = _roofs(r, rep)
        except ValueError:
            continue
        if roofs is None:
            continue
        dec, comp = roofs["decode"], roofs["compute"]
        met, mode = r["metric"], r["mode"]
        batch = _int(r["batch"]) or 1
        inp, out = _int(r["input_len"]), _int(r["output_len"])
        bound: tuple[str, float, bool] | None = None  # (what, bound, value must be <= bound)
        if met == "decode_tok_s_per_user":
            bound = ("weight-bandwidth roof tok/s", dec, True)
        elif met == "tpot_ms":
            bound = ("weight-bandwidth floor ms", 1e3 / dec, False)
        elif met == "e2e_latency_s" and out:
            bound = ("output_len x bandwidth floor s", out / dec, False)
        elif met == "prefill_tok_s":
            bound = ("compute roof tok/s", comp, True)
        elif met == "ttft_ms" and inp:
            bound = ("compute floor ms", 1e3 * inp * (batch if mode == "batch" else 1) / comp, False)
        elif met in ("output_tok_s", "total_tok_s"):
            if mode in ("batch", "concurrency") and met == "output_tok_s":
                bound = (f"batch {batch} x bandwidth roof tok/s", min(batch * dec, comp), True)
            else:
                bound = ("compute roof tok/s", comp, True)
        if bound is None or not math.isfinite(bound[1]):
            continue
        what, b, upper = bound
        if (upper and v > b) or (not upper and v < b):
            rep.implausible.append(
                (r["id"], f"{met}={v:g} vs {what} {b:.4g} ({r['model_id']} {r['weight_precision']} "
                          f"on {r['num_devices'] or 1}x {r['hardware_id']})"))


def check(corpus: Path = CORPUS, published: Path = PUBLISHED, roofs: bool = True) -> Report:
    rep = Report()
    rows = read_corpus(corpus, rep)
    ids: dict[str, str] = {}
    for r in rows:
        if r["id"] in ids:
            rep.errors.append(f"{r['id']}: duplicate id ({ids[r['id']]} and {r['_file']})")
        ids[r["id"]] = r["_file"]
        check_row(r, rep)
    pub: list[dict[str, str]] = []
    if published.exists():
        with published.open(newline="", encoding="utf-8") as fh:
            pub = list(csv.DictReader(fh))
        for p in pub:
            if p["id"] in ids:
                rep.errors.append(f"{p['id']}: id also used in published.csv")
    good = [r for r in rows if r["metric"] in METRICS]
    find_duplicates(good, pub, rep)
    if roofs:
        find_implausible(good, rep)
    return rep


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    args = [a for a in argv if not a.startswith("--")]
    rep = check(Path(args[0]) if args else CORPUS)
    if as_json:
        print(json.dumps(rep.as_dict(), indent=1))
    else:
        print(f"{rep.rows} rows in {rep.files} files")
        dups = [d[2] + ("  [reviewed]" if frozenset(d[:2]) in REVIEWED_PAIRS else "")
                for d in rep.duplicates]
        for title, items in (("ERRORS", rep.errors), ("DUPLICATES", dups),
                             ("FIXED-RATE HINTS", rep.fixed_rate)):
            print(f"\n{title} ({len(items)})")
            for it in items:
                print("  " + it)
        print(f"\nIMPLAUSIBLE ({len(rep.implausible)})")
        for rid, why in rep.implausible:
            print(f"  {rid}: {why}" + (f"  [reviewed: {REVIEWED[rid]}]" if rid in REVIEWED else ""))
        print("\nids the catalog lacks (roofs not checked):")
        for k, v in rep.unchecked_ids.items():
            print(f"  {k}: {', '.join(sorted(v))}")
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
