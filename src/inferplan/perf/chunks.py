"""Prompt chunks and the token budget of a continuous-batching step.

Engines cap the tokens one step carries (decode tokens + prompt chunk). The cap decides how a
prompt is split and, under load, how many sequences an engine can keep decoding: every running
sequence's successor must have its prompt prefilled inside the same budget.
"""

from __future__ import annotations

import math

import numpy as np

from inferplan.perf.deployment import Deployment
from inferplan.perf.step import StepWork, step_work


def budget_running_seqs(budget_tokens: float, input_len: float, output_len: float) -> float:
    """Most sequences a continuous-batching engine keeps decoding at a token budget (sequences).

    In steady state each of R running sequences emits one token per step and finishes after
    O steps, so R/O new prompts of I tokens arrive per step; decode tokens and prompt tokens
    share the budget: R + R x I / O <= budget, R <= budget x O / (I + O). Above it the engine
    cannot prefill fast enough and the extra clients wait for admission (vLLM and SGLang
    schedule running decodes first and fill the rest of the step with prompt chunks).
    """
    if output_len <= 0:
        return math.inf
    return budget_tokens * output_len / (input_len + output_len)


def prefill_chunks(dep: Deployment, seqs: float, prompt_tokens: int, decode_seqs: float = 0.0,
                   decode_ctx: float = 0.0) -> StepWork:
    """The steps that prefill `seqs` prompts of `prompt_tokens`, in the engine's chunks.

    An engine processes at most ``Deployment.step_token_budget`` tokens per step (vLLM
    max_num_batched_tokens, SGLang chunked_prefill_size, TensorRT-LLM max_num_tokens, llama.cpp
    n_batch); ``decode_seqs`` sequences decoding alongside (at ``decode_ctx`` cached tokens)
    take one token each of that budget in every step. Short prompts are packed several to a
    step; a long prompt is split and each chunk attends to the tokens before it. Each step
    re-reads the weights, which is what chunking costs. Returns one StepWork whose arrays hold
    the steps (sum them with ``total_time_s``).
    """
    chunk = max(1.0, dep.step_token_budget - decode_seqs)
    rider = {"decode_seqs": decode_seqs, "decode_ctx": decode_ctx}
    if seqs * prompt_tokens <= chunk:
        return step_work(dep, prefill_tokens=seqs * prompt_tokens, prefill_seqs=seqs, **rider)
    if prompt_tokens <= chunk:
        per_step = float(prompts_per_step(chunk, prompt_tokens))
        n_full = int(seqs // per_step)
        sizes = [per_step] * n_full + ([seqs - n_full * per_step] if seqs > n_full * per_step else [])
        s = np.array(sizes)
        return step_work(dep, prefill_tokens=s * prompt_tokens, prefill_seqs=s, **rider)
    n = math.ceil(prompt_tokens / chunk)
    start = np.arange(n) * float(chunk)
    tokens = np.minimum(chunk, prompt_tokens - start)
    # every sequence goes through the same chunks; steps of one sequence after another
    return step_work(dep, prefill_tokens=np.tile(tokens, int(math.ceil(seqs))),
                     prefill_seqs=1.0, prefill_ctx=np.tile(start, int(math.ceil(seqs))), **rider)


def prompts_per_step(chunk_tokens: float, prompt_tokens: float) -> int:
    """Whole prompts packed into one step of `chunk_tokens` (prompts no longer than a step)."""
    return max(1, int(chunk_tokens // prompt_tokens))


def first_token_share(seqs: float, prompt_tokens: float, chunk_tokens: float) -> float:
    """Mean share of a burst's prompt tokens processed when a prompt's first token comes out.

    `seqs` prompts of `prompt_tokens` run back to back in steps of at most `chunk_tokens`
    tokens, as :func:`prefill_chunks` splits them: a prompt's first token comes at the end of the
    step holding its last chunk. Prompts that fit a step are packed ``floor(chunk / I)`` to a
    step and all finish with it (one step: all at the end, share 1); longer prompts go one after
    another, the i-th done at i/n of the burst ((n+1)/2n on average). Shares of tokens stand for
    shares of time (the steps' times grow with their tokens). Dimensionless, in (0, 1].
    """
    n = max(1, int(math.ceil(seqs)))
    if n * prompt_tokens <= chunk_tokens or prompt_tokens <= 0:
        return 1.0
    if prompt_tokens > chunk_tokens:
        return (n + 1) / (2 * n)
    per_step = prompts_per_step(chunk_tokens, prompt_tokens)
    done = np.minimum(np.arange(1, math.ceil(n / per_step) + 1) * per_step, n)  # prompts done by each step
    finished = np.diff(np.concatenate([[0], done]))  # prompts whose first token each step emits
    return float(np.sum(finished * done) / (n * n))
