"""The README quotes what some commands print; a refit of the factors moves those numbers, and a
review found eleven of them stale. Each case runs the command and checks that the README's
figure is the output rounded as the README rounds it (within 1.5%): a refit that moves a quoted
number fails here until the README says the new one."""

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inferplan.cli.main import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()

DS_HYBRID = ("estimate -m deepseek-v3 -H rtx-4090 --precision q4_k_m --offload experts --host epyc-9755 "
             "--input-len 1000 --output-len 1000")
SLOTS = "estimate -m llama-3.1-8b -H ryzen-9-7950x --precision q4_k_m --concurrency 16 --input-len 512 --output-len 256"
LFM = "-m lfm2.5-1.2b --input-len 256 --output-len 256"
GOSS = "estimate -m gpt-oss-120b -H rtx-4090 --devices 1 --input-len 512 --output-len 128"
NGL = "estimate -m llama-3.1-70b -H rtx-4090 --devices 1 --precision q4_k_m --offload auto --input-len 512 --output-len 256"

# (command, JSON field, the README's text around the figure, the figure as the README writes it)
CASES = [
    (f"{DS_HYBRID} --devices 2", "decode_tok_s_per_user", "EPYC 9755 socket: **{}", "16.5 tok/s"),
    (f"{DS_HYBRID} --devices 1", "decode_tok_s_per_user", "1x RTX 4090: {}", "16.5 tok/s"),
    (f"{DS_HYBRID} --devices 2", "usd_per_1m_output_tokens", "| ${}", "11.5 per 1M output tokens at one user"),
    (f"{DS_HYBRID} --devices 2 --concurrency 4 --slots 4", "usd_per_1m_output_tokens", "${}", "4.2 with 4 llama-server"),
    (f"estimate {LFM} -H snapdragon-8-elite-npu --precision w4a16", "decode_tok_s_per_user", "Hexagon NPU: **{}",
     "61 tok/s"),
    (f"estimate {LFM} -H apple-ane-a19-pro --precision w4a16", "decode_tok_s_per_user", "A19 Pro Neural Engine {}",
     "56 tok/s"),
    (f"estimate {LFM} -H ryzen-ai-300-npu --precision w4a16", "decode_tok_s_per_user", "Ryzen AI 300 NPU {}",
     "78 tok/s"),
    (f"estimate {LFM} -H ryzen-9-7950x --precision q4_0", "decode_tok_s_per_user", "| {}", "78 tok/s on a Ryzen 9 7950X"),
    (f"estimate {LFM} -H ryzen-ai-max-395 --precision q4_0", "decode_tok_s_per_user", "{}", "200 tok/s on a Ryzen AI Max+"),
    (f"{SLOTS} --slots 4", "ttft_s", "TTFT {}", "89 s and 36 tok/s with 4 slots"),
    (f"{SLOTS} --slots 4", "output_tok_s", "89 s and {}", "36 tok/s with 4 slots"),
    (f"{SLOTS} --slots 1", "ttft_s", "vs {}", "310 s and 12 tok/s with 1"),
    ("estimate -m llama-3.1-8b -H cerebras-cs3 --precision bf16 --input-len 1000 --output-len 1000",
     "decode_tok_s_per_user", "8B **{}", "1,774** tok/s"),
    ("estimate -m llama-3.1-70b -H cerebras-cs3 --precision bf16 --input-len 1000 --output-len 1000",
     "decode_tok_s_per_user", "70B **{}", "1,414** (vendor"),
    ("estimate -m llama-3.1-405b -H cerebras-cs3 --precision bf16 --input-len 1000 --output-len 1000",
     "decode_tok_s_per_user", "405B **{}", "1,008** (vendor"),
    (f"{NGL} --engine llama.cpp", "decode_tok_s_per_user", "Ryzen 9 7950X: **{}", "3.4 tok/s"),
    (f"{NGL} --engine vllm", "decode_tok_s_per_user", "per user, TTFT 0.88 s for 512 tokens; {}", "0.88 tok/s if"),
    (f"{NGL} --engine llama.cpp", "ttft_s", "per user, TTFT {}", "0.88 s for 512"),
    (f"{GOSS} --offload experts", "decode_tok_s_per_user", "on a 4090: {}", "23.5 tok/s with every expert"),
    (f"{GOSS} -O n_cpu_moe=30", "decode_tok_s_per_user", "on the host, {}", "26.7 with 30 of 36"),
    ("estimate -m llama-2-70b -H groq-lpu-v1 --input-len 1000 --output-len 1000", "decode_tok_s_per_user",
     "card price, {}", "604 tok/s per user"),
]


def _quoted(text: str) -> float:
    return float(text.split()[0].replace(",", "").replace("*", ""))


@pytest.mark.parametrize("cmd,field,context,figure", CASES, ids=[f"{c[1]}:{c[3][:24]}" for c in CASES])
def test_readme_figure_is_what_the_command_prints(cmd, field, context, figure):
    assert context.format(figure) in README, f"README no longer says {context.format(figure)!r}"
    r = CliRunner().invoke(app, shlex.split(cmd) + ["--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    value = json.loads(r.stdout)[field]
    assert value == pytest.approx(_quoted(figure), rel=0.015), f"{cmd}: {field} = {value:.4g}, README says {figure}"


def test_the_one_million_request_run_is_what_estimate_prints():
    r = CliRunner().invoke(app, shlex.split("estimate -m llama-3.1-8b -H h100-sxm --offline --requests 1000000 "
                                            "--input-len 512 --output-len 256"), catch_exceptions=False)
    assert r.exit_code == 0
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("run:"))
    cost, kwh = line.split("$", 1)[1].split(", ")[:2]
    assert f"h, ${cost}, {kwh}`" in README, f"estimate prints {line!r}"
