"""Offline benchmarks whose requests have spread-out lengths (ShareGPT): a run is not N copies of
its mean request.

An offline run queues every prompt at t = 0. With fixed lengths the engine keeps a full batch
until the queue is empty and every sequence ends together. With lengths drawn from a wide
distribution, short requests leave early, their slots refill from the queue, and the run ends
with a tail: the few longest requests decode at a small batch, where a step costs nearly as much
as a full one (the weights are read either way). The estimate gives every request the mean
lengths; :func:`length_spread_factor` replays the run twice in the simulator (the same
deployment, step costs and engine limits), with the mean lengths and with lengths drawn from the
dataset's distribution at those means, and returns the ratio of the two throughputs. It is a
property of the deployment and the length distribution, computed once per run under the
shipped profile (``validate --calibration`` does not recompute it: the factors move both runs
alike).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from inferplan.perf.deployment import Deployment
from inferplan.perf.efficiency import Efficiency

SPREAD_REQUESTS = 1000  # requests replayed when the row does not state how many were sent


@dataclass(frozen=True)
class LengthSpread:
    """Log-normal spread of a dataset's prompt and output lengths (sigma of log tokens), the
    upper cut the benchmark client applies, and where the numbers come from."""

    sigma_in: float
    sigma_out: float
    max_in: int
    max_total: int
    source: str


DATASETS: dict[str, LengthSpread] = {
    # vLLM benchmark_serving / vllm bench serve and SGLang bench_serving sample ShareGPT the same
    # way: first human turn -> prompt, the reply's token count -> output, pairs with < 4 tokens
    # dropped, prompt > 1024 or prompt + output > 2048 dropped (sample_sharegpt_requests).
    "sharegpt": LengthSpread(
        sigma_in=1.2, sigma_out=1.0, max_in=1024, max_total=2048,
        source="prompts: sigma from the prompt-length CDF of ml-energy/leaderboard-v2 "
               "sharegpt/ShareGPT_V3_filtered_1000_cdf.png@d8e69d25 (vLLM-derived filter, llama "
               "tokenizer): median ~90-100 tokens against a mean of ~200-230 (vLLM PR #18566: 229.7 "
               "over 1,000 prompts), mean/median = exp(sigma^2/2) -> sigma ~1.2; outputs: assumed "
               "1.0 (right-skewed replies; no published spread under these rules)"),
}


def dataset_of(notes: str) -> str | None:
    """The dataset a row's benchmark sampled, when its notes name one we know the spread of
    (``dataset=sharegpt`` or the client's ``--dataset-name sharegpt``)."""
    m = re.search(r"(?:dataset=|--dataset-name\s+)([a-z0-9_-]+)", notes.lower())
    return m.group(1) if m and m.group(1) in DATASETS else None


def stated_requests(notes: str) -> int | None:
    """Prompts the benchmark sent, when a row's notes state it (``requests=N``,
    ``--num-prompts N``, ``num_prompts=N`` or ``over N successful requests``); None otherwise."""
    for pat in (r"\brequests\s*=\s*(\d+)\b", r"--num-prompts\s+(\d+)", r"over (\d+) successful requests",
                r"num_prompts\s*=\s*(\d+)\b"):
        m = re.search(pat, notes)
        if m:
            return max(1, int(m.group(1)))
    return None


def prompts_sent(notes: str) -> int:
    """Prompts the benchmark sent (:func:`stated_requests`), else ``SPREAD_REQUESTS``."""
    n = stated_requests(notes)
    return SPREAD_REQUESTS if n is None else n


_FACTORS: dict[tuple, float] = {}  # replays already run (rows of one run share a deployment)


def _run_key(dep: Deployment, input_len: int, output_len: int, spread: LengthSpread,
             requests: int, seed: int, eff: Efficiency | None) -> tuple:
    """What a replay depends on: the deployment's identity (model, device, engine as launched,
    layout, precisions, threads), the lengths, the spread and the profile."""
    return (dep.model.id, dep.hw.id, dep.engine.model_dump_json(), dep.layout,
            dep.weight_precision.id, dep.expert_precision.id, dep.kv_precision.id, dep.threads,
            input_len, output_len, spread, requests, seed, None if eff is None else eff.profile)


def length_spread_factor(dep: Deployment, input_len: int, output_len: int, spread: LengthSpread,
                         requests: int = SPREAD_REQUESTS, seed: int = 0,
                         eff: Efficiency | None = None) -> float:
    """Throughput of an offline run with spread-out lengths over that with the mean lengths
    (dimensionless, <= ~1). Both runs: `requests` prompts queued at t = 0 on one replica of
    `dep`; lengths log-normal with the spread's sigmas, scaled so their means are the row's."""
    from inferplan.sim import Arrivals, LengthDist, Workload, pool_from_deployment, simulate_pools

    key = _run_key(dep, input_len, output_len, spread, requests, seed, eff)
    if key in _FACTORS:
        return _FACTORS[key]

    burst = Arrivals(kind="poisson", rate=1e9)  # every prompt in the queue at once

    def dist(mean: int, sigma: float, high: int) -> LengthDist:
        if sigma <= 0:
            return LengthDist(value=max(1, mean))
        return LengthDist(kind="lognormal", median=max(1.0, mean / math.exp(sigma**2 / 2)),
                          sigma=sigma, low=1, high=high)

    def throughput(w: Workload) -> float:
        pool = pool_from_deployment(dep, w, eff=eff)
        res = simulate_pools(pool, w, requests=requests, seed=seed, api_server=False)
        return float(res.metrics.output_tok_s or 0.0)

    fixed = Workload(arrivals=burst, input=dist(input_len, 0, spread.max_in),
                     output=dist(output_len, 0, spread.max_total))
    spread_w = Workload(arrivals=burst, input=dist(input_len, spread.sigma_in, spread.max_in),
                        output=dist(output_len, spread.sigma_out, spread.max_total))
    base = throughput(fixed)
    _FACTORS[key] = factor = throughput(spread_w) / base if base > 0 else 1.0
    return factor
