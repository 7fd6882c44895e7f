"""Seeded fuzzing of the CLI: N random invocations in-process, each must end with exit code 0,
1 or 2 and no traceback.

    python benchmarks/fuzz_cli.py [--n 10000] [--seed 0] > benchmarks/results/fuzz_cli.md

Invocations are drawn from a grammar of every command with plausible, boundary and hostile
values (zero, negative, NaN, infinity, 2^32, units, huge strings, 300-character names,
folders where files are expected, broken config.json / CSV / YAML files written to a scratch
folder). Values that are valid but slow (10^6 simulated requests) are left out: the aim is
crashes, not timing. Runs through typer's CliRunner (no process per call). ``tests/cli/
test_fuzz.py`` runs the same generator at a small size in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

BAD_NUMBERS = ["0", "-1", "nan", "inf", "-inf", "1e400", "4294967296", "abc", "", "1.5", "0x10",
               "9" * 40, "1_000", " 7 "]
BAD_TEXT = ["", " ", "x" * 300, "../../etc/passwd", "/", "h100", "🙂", "a/b/c", "-", "--json",
            "org/name", "\x00"]


def _num(rng: random.Random, good: list[str]) -> str:
    return rng.choice(good) if rng.random() < 0.85 else rng.choice(BAD_NUMBERS)


def _text(rng: random.Random, good: list[str]) -> str:
    return rng.choice(good) if rng.random() < 0.85 else rng.choice(BAD_TEXT)


def scratch_files(root: Path) -> dict[str, list[str]]:
    """Broken and valid input files the invocations point at."""
    from inferplan.catalog._load import data_path

    good_cfg = json.loads(data_path("models", "llama-3.2-1b.json").read_text())
    files: dict[str, list[str]] = {"config": [], "csv": [], "yaml": [], "hw": []}
    cfgs = {
        "good": good_cfg,
        "neg_hidden": good_cfg | {"hidden_size": -2048},
        "zero_heads": good_cfg | {"num_attention_heads": 0},
        "zero_layers": good_cfg | {"num_hidden_layers": 0},
        "huge_layers": good_cfg | {"num_hidden_layers": 10**12},
        "float_inf": good_cfg | {"hidden_size": 1e308 * 10},
        "wrong_type": good_cfg | {"intermediate_size": [1, 2], "vocab_size": "big"},
        "kv_not_divisor": good_cfg | {"num_key_value_heads": 5},
        "unknown_arch": {"model_type": "mamba", "architectures": ["MambaForCausalLM"]},
        "not_object": [1, 2, 3],
    }
    for name, cfg in cfgs.items():
        p = root / f"cfg-{name}.json"
        p.write_text(json.dumps(cfg, allow_nan=True))
        files["config"].append(str(p))
    (root / "cfg-garbage.json").write_text("{not json")
    files["config"] += [str(root / "cfg-garbage.json"), str(root), str(root / "missing.json")]
    head = ("id,source,model_id,hardware_id,num_devices,tp,pp,ep,weight_precision,kv_precision,"
            "engine,mode,batch,input_len,output_len,metric,value,reliability,notes\n")
    rows = {
        "good": "a,s,llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,7.5,A,\n",
        "empty": "a,s,llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,,A,\n",
        "unknown": "a,s,llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,unknown,A,\n",
        "inf": "a,s,llama-3.1-8b,h100-sxm,inf,1,1,1,bf16,bf16,vllm,batch,nan,1024,128,tpot_ms,inf,A,\n",
        "far": "a,s,llama-3.1-8b,h100-sxm,1,1,1,1,bf16,bf16,vllm,batch,1,1024,128,tpot_ms,0.001,A,\n",
        "short": "a,s\n",
    }
    for name, row in rows.items():
        p = root / f"rows-{name}.csv"
        p.write_text(head + row)
        files["csv"].append(str(p))
    (root / "rows-nohead.csv").write_text("just,some,text\n1,2,3\n")
    files["csv"] += [str(root / "rows-nohead.csv"), str(root), str(root / "missing.csv")]
    yamls = {
        "empty_value": "factors:\n  bw_eff:\n    default: {value: }\n",
        "wrong_type": "factors:\n  bw_eff:\n    default: {value: fast}\n",
        "list": "factors: [1, 2]\n",
        "nan": "factors:\n  bw_eff:\n    default: {value: .nan}\n",
        "bad_yaml": "factors: {bw_eff: [\n",
    }
    for name, text in yamls.items():
        p = root / f"calib-{name}.yaml"
        p.write_text(text)
        files["yaml"].append(str(p))
    hws = {
        "inf_memory": "- id: h100-sxm\n  override: true\n  memory_bytes: .inf\n",
        "negative_bw": "- id: h100-sxm\n  override: true\n  memory_bw_bytes_s: -1\n",
        "not_list": "id: x\n",
        "unknown_override": "- id: nope\n  override: true\n",
    }
    for name, text in hws.items():
        p = root / f"hw-{name}.yaml"
        p.write_text(text)
        files["hw"].append(str(p))
    return files


COMMANDS = ("estimate", "compare", "fit", "simulate", "validate", "models", "hardware",
            "precisions", "engines", "history", "calibration", "report", "audit", "plan",
            "loadtest", "calibrate")
MODELS = ["llama-3.1-8b", "llama-3.2-1b", "qwen3-30b-a3b", "deepseek-v3", "gpt-oss-20b",
          "mixtral-8x7b", "gemma-3-27b", "llama-3.1-8", "nonexistent"]
HARDWARE = ["h100-sxm", "l4", "mi300x", "b200", "ryzen-9-7950x", "h100", "h100-sxn", "tpu-v5e"]


def invocation(rng: random.Random, files: dict[str, list[str]], out: Path) -> list[str]:
    """One random argv."""
    model = lambda: _text(rng, MODELS + files["config"][:1]) if rng.random() < 0.85 else rng.choice(files["config"])  # noqa: E731
    hw = lambda: _text(rng, HARDWARE)  # noqa: E731
    cmd = rng.choice(["estimate"] * 6 + ["compare"] * 2 + ["fit"] * 2 + ["simulate"] * 4 +
                     ["validate"] * 2 + ["models", "hardware", "hardware-show", "precisions",
                                         "engines", "history", "calibration", "report", "audit",
                                         "plan", "loadtest", "calibrate", "junk"])
    a: list[str]
    if cmd == "estimate":
        a = ["estimate", "-m", model(), "-H", hw()]
        for flag, good in (("--input-len", ["1", "128", "1024", "0"]), ("--output-len", ["1", "64"]),
                           ("--batch", ["1", "8", "64"]), ("--concurrency", ["4", "32"]),
                           ("--tp", ["1", "2", "3", "8"]), ("--pp", ["1", "2"]), ("--ep", ["1", "8"]),
                           ("--devices", ["auto", "1", "4", "many"]), ("--threads", ["1", "16"]),
                           ("--usd-per-hour", ["2.5", "0.1"]), ("--pue", ["1.2", "0.5"]),
                           ("--precision", ["fp8", "int4", "fp9", "bf16"]),
                           ("--kv-precision", ["fp8", "bf16", "q"]),
                           ("--engine", ["vllm", "sglang", "llama.cpp", "warp-drive"])):
            if rng.random() < 0.25:
                a += [flag, _num(rng, good) if flag not in ("--precision", "--kv-precision", "--engine", "--devices") else _text(rng, good)]
        if rng.random() < 0.1:
            a.append("--offline")
        if rng.random() < 0.1:
            a.append("--offload")
    elif cmd == "compare":
        a = ["compare", "-m", model()]
        if rng.random() < 0.7:
            a += ["-H", ",".join(rng.sample(HARDWARE, 3))]
        else:
            a += ["--class", _text(rng, ["gpu", "cpu", "npu", "tpu"])]
        if rng.random() < 0.3:
            a += ["--sort", _text(rng, ["cost", "speed", "ttft", "fastest"])]
        if rng.random() < 0.3:
            a += ["--format", _text(rng, ["table", "json", "csv", "xml"])]
    elif cmd == "fit":
        a = ["fit", "-m", model(), "--context", _num(rng, ["4096", "1", "131072"]),
             "--batch", _num(rng, ["1", "16"])]
    elif cmd == "simulate":
        a = ["simulate", "-m", model(), "-H", hw(), "-n", _num(rng, ["20", "50", "100", "4294967296", "10000001"])]
        for flag, good in (("--rate", ["1", "5", "200", "0.01"]), ("--replicas", ["1", "2"]),
                           ("--p90-tpot", ["50ms", "1.5s", "50", "2m", "10x"]),
                           ("--p99-ttft", ["200ms", "2h", "1s"]), ("--kv-blocks", ["1", "100"]),
                           ("--max-num-seqs", ["1", "8"]), ("--warmup", ["0.1", "1.5"]),
                           ("--think-time", ["1s", "500ms"]), ("--users", ["2", "8"]),
                           ("--input-len", ["100", "4000"]), ("--output-len", ["10", "100"]),
                           ("--seed", ["0", "7", "-3"]),
                           ("--workload", ["chat", "rag", "code", "nope"]),
                           ("--block-size", ["1", "16", "64"]),
                           ("--kv-reservation", ["on_demand", "full_sequence", "none"]),
                           ("--engine", ["tensorrt-llm", "vllm", "sglang"])):
            if rng.random() < 0.2:
                text = flag.startswith(("--p", "--work", "--think", "--kv-res", "--engine"))
                a += [flag, _text(rng, good) if text else _num(rng, good)]
    elif cmd == "validate":
        a = ["validate", rng.choice(files["csv"])]
        if rng.random() < 0.3:
            a += ["--calibration", rng.choice(files["yaml"])]
        if rng.random() < 0.2:
            a += ["--hardware-file", rng.choice(files["hw"])]
        if rng.random() < 0.3:
            a += ["--format", rng.choice(["json", "csv", "table"])]
    elif cmd in ("models", "precisions", "engines"):
        a = [cmd] + (["--format", _text(rng, ["json", "csv", "table"])] if rng.random() < 0.5 else [])
    elif cmd == "hardware":
        a = ["hardware"] + (["--class", _text(rng, ["gpu", "cpu"])] if rng.random() < 0.5 else []) \
            + (["--hardware-file", rng.choice(files["hw"])] if rng.random() < 0.3 else [])
    elif cmd == "hardware-show":
        a = ["hardware", "show", hw()] + (["--format", rng.choice(["csv", "json"])] if rng.random() < 0.3 else [])
    elif cmd == "history":
        a = ["history"] + (["show", _num(rng, ["1", "2"])] if rng.random() < 0.5 else ["--limit", _num(rng, ["5"])])
    elif cmd == "calibration":
        a = ["calibration", rng.choice(["list", "show"])]
        if a[1] == "show":
            a.append(_text(rng, ["calibrated", "default"]))
    elif cmd == "report":
        a = ["report", "-m", model(), "-H", ",".join(rng.sample(HARDWARE, 2)), "--detail",
             _num(rng, ["0", "1"]), "--json" if rng.random() < 0.7 else "--format=pdf"]
    elif cmd == "audit":
        a = ["audit", "--only", _text(rng, ["01", "05", "zz"]), "--json"]
    elif cmd == "plan":
        a = ["plan", "-m", model(), "--rate", _num(rng, ["1", "0.5"]), "-H", hw(),
             "--p90-tpot", _text(rng, ["100ms", "0.1"]), "--requests", _num(rng, ["50"]),
             "--top", "1", "--executor", "serial", "--no-disagg", "--no-progress", "--max-devices", "2",
             "--max-replicas", "2"]
    elif cmd == "loadtest":
        a = ["loadtest", "--endpoint", _text(rng, ["http://127.0.0.1:9", "not a url", "ftp://x"]),
             "-n", _num(rng, ["1", "2"]), "--duration", _text(rng, ["1s", "2"])]
    elif cmd == "calibrate":
        a = ["calibrate", rng.choice(files["csv"][1:] + ["missing.csv"]), "--name",
             _text(rng, ["x", "bad name!"]), "--out", str(out / "p.yaml")]
    else:
        a = [rng.choice(["junk", "--frobnicate", "estimate --model"])]
    if rng.random() < 0.3 and cmd not in ("report", "junk", "loadtest"):
        a.append("--json")
    if rng.random() < 0.05:  # shuffle a flag to a wrong place
        rng.shuffle(a)
    return a


def run(n: int, seed: int = 0, progress: bool = False) -> dict:
    """Run ``n`` invocations; returns counts of exit codes and the tracebacks found."""
    import typer.testing
    from typer.testing import CliRunner

    from inferplan.cli.main import app

    rng = random.Random(seed)
    runner = CliRunner()
    # typer rebuilds the click command tree on every invoke (~0.2 s); build it once
    command = typer.testing._get_command(app)
    rebuild, typer.testing._get_command = typer.testing._get_command, lambda _app: command
    codes: Counter = Counter()
    per_cmd: dict[str, list[float]] = {}
    bugs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        files = scratch_files(root / "in")
        env = {"INFERPLAN_HOME": str(root / "home"), "COLUMNS": "100", "HF_HUB_OFFLINE": "1",
               "HF_HUB_CACHE": str(root / "hub")}
        t0 = time.perf_counter()
        cwd = os.getcwd()
        os.chdir(root)  # `report` writes its default file name here
        try:
            for i in range(n):
                argv = invocation(rng, files, root)
                t1 = time.perf_counter()
                r = runner.invoke(app, argv, env=env)
                name = next((a for a in argv if a in COMMANDS), "(no command)")
                per_cmd.setdefault(name, []).append(time.perf_counter() - t1)
                codes[r.exit_code] += 1
                exc = r.exception
                if (exc is not None and not isinstance(exc, SystemExit)) or r.exit_code not in (0, 1, 2) \
                        or "Traceback" in (r.stderr or "") or "Traceback" in (r.stdout or ""):
                    tb = "".join(traceback.format_exception(exc)) if exc else (r.stderr or "")[-2000:]
                    bugs.append({"i": i, "argv": argv, "exit": r.exit_code, "traceback": tb[-3000:]})
                if progress and (i + 1) % 500 == 0:
                    print(f"{i + 1}/{n} invocations, {len(bugs)} tracebacks, "
                          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        finally:
            os.chdir(cwd)
            typer.testing._get_command = rebuild
        wall = time.perf_counter() - t0
    return {"n": n, "seed": seed, "codes": dict(codes), "tracebacks": bugs, "wall_s": wall,
            "per_command_s": {k: (len(v), sum(v)) for k, v in sorted(per_cmd.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = run(args.n, args.seed, progress=True)
    print(f"# CLI fuzzing: {res['n']:,} invocations (seed {res['seed']})\n")
    print(f"- exit codes: {', '.join(f'{k}: {v:,}' for k, v in sorted(res['codes'].items()))}")
    print(f"- tracebacks: {len(res['tracebacks'])}")
    print(f"- wall time: {res['wall_s']:.0f} s ({res['wall_s'] / max(res['n'], 1) * 1e3:.0f} ms per "
          f"invocation, in-process via typer's CliRunner)")
    print("\n| command | invocations | mean (ms) |\n|---|---|---|")
    for k, (count, total) in res["per_command_s"].items():
        print(f"| {k} | {count:,} | {total / count * 1e3:.0f} |")
    for b in res["tracebacks"][:20]:
        print(f"\n## #{b['i']} exit {b['exit']}: `{' '.join(b['argv'])[:300]}`\n\n```\n{b['traceback']}\n```")
    sys.exit(1 if res["tracebacks"] else 0)


if __name__ == "__main__":
    main()
