"""Engines that run compiled, fixed shapes (``EngineSpec.compiled_shapes``: optimum-neuron), and
XLA engines that pad each step to a precompiled power-of-two bucket (:func:`bucketed_tokens`).

An ahead-of-time compiled graph has one batch and one sequence length; idle slots and unused
positions are computed all the same. Hugging Face optimum-neuron (its TGI neuron backend and
its vLLM plugin) compiles, for a model exported with ``batch_size`` B and ``sequence_length``
L (huggingface/optimum-neuron, read at commits from 2024-10 to 2026-03):

- token generation runs all B slots every step, whatever the number of live sequences
  (``decoder_wrappers.py``: inputs ``pad_to_batch_size``), and each slot attends over the whole
  cache of L positions, masked past its own position (``modeling_decoder.py``: the token
  generation graph is built with ``max_tokens = sequence_length``; its attention mask has
  ``n_positions = sequence_length`` columns; bucketing exists from 2025-10 but is off by default,
  ``enable_bucketing=False``, and the 2024 transformers-neuronx path passed
  ``n_positions=[sequence_length]``, one bucket);
- context encoding takes one prompt at a time (``ctx_batch_size = 1`` with continuous batching)
  padded to ``max_context_length``, which defaults to L (transformers-neuronx:
  ``context_length_estimate=[sequence_length]``).

So a step's decode part costs B sequences at L cached tokens each, and a prompt costs L tokens
of causal prefill. The work is counted at those shapes; the tokens the step emits are still
the live sequences' (metrics count them). Without a compiled length (``max_model_len`` unset)
only the batch is padded: a model compiled for its workload, whose prompt and cache lengths are
taken as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inferplan.errors import InputError
from inferplan.perf.deployment import Deployment

MIN_TOKEN_BUCKET = 16.0  # vLLM TPU's smallest token bucket (tpu_inference envs.MIN_TOKEN_BUCKET)


def compiled_step_shape(dep: Deployment, b: np.ndarray, c: np.ndarray, p: np.ndarray,
                        s: np.ndarray, c0: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (decode sequences, cached tokens each, prompt tokens, prompt sequences, prompt
    context) a compiled-shape engine computes for a step of the live composition ``b, c, p, s,
    c0`` (counts and tokens per replica): decodes at the compiled batch (``max_running_seqs``)
    over the compiled length, prompts padded to the compiled length and encoded from position 0.
    Other engines: the composition unchanged."""
    if not dep.engine.compiled_shapes:
        return b, c, p, s, c0
    slots = float(dep.max_running_seqs)
    b_run = np.where(b > 0, np.maximum(b, slots), 0.0)
    length = dep.engine.max_model_len
    if length is None:
        return b_run, c, p, s, c0
    c_run = np.where(b > 0, float(length), c)
    p_run = np.where(s > 0, s * float(length), p)
    return b_run, c_run, p_run, s, 0.0 * c0


def check_max_model_len(dep: Deployment, input_len: int, output_len: int,
                        notes: dict[str, Any]) -> None:
    """An engine launched with ``max_model_len`` serves sequences up to that length only (vLLM
    rejects longer requests; a compiled-shape engine has no graph for them); records the shapes
    a compiled-shape engine runs in the estimate's ``notes``."""
    length = dep.engine.max_model_len
    if length is not None and input_len + output_len > length:
        what = "was compiled for" if dep.engine.compiled_shapes else "was launched with"
        raise InputError(f"{dep.engine.id} {what} {length} tokens per sequence (max_model_len); "
                         f"input {input_len} + output {output_len} do not fit: set "
                         f"--engine-option max_model_len={input_len + output_len} or more")
    if not dep.engine.compiled_shapes:
        return
    where = (f"over all {length} compiled positions; each prompt is encoded alone, padded to "
             f"{length} tokens" if length is not None
             else "over each sequence's own context (no compiled length given: max_model_len)")
    notes["compiled_shapes"] = (f"{dep.engine.id} runs compiled shapes: every decode step "
                                f"computes {dep.max_running_seqs} slots (max_num_seqs) {where}")


def compiled_kv(dep: Deployment, seqs: float, ctx_tokens: float) -> tuple[float, float]:
    """(sequences, tokens each) the KV cache must hold: a compiled-shape engine allocates every
    compiled slot at the compiled length up front; other engines, the running sequences."""
    if not dep.engine.compiled_shapes:
        return seqs, ctx_tokens
    return max(seqs, float(dep.max_running_seqs)), float(dep.engine.max_model_len or ctx_tokens)


def bucketed_tokens(dep: Deployment, tokens: np.ndarray) -> np.ndarray:
    """Tokens a step computes on an engine that pads each step to a precompiled power-of-two
    bucket (``EngineSpec.pow2_token_buckets`` on the device's class): XLA compiles one graph per
    shape, so vLLM's TPU backend pads a step's tokens to the next power of two from 16
    (vllm-project/tpu-inference runner/utils.py ``get_token_paddings`` with
    ``VLLM_TPU_BUCKET_PADDING_GAP`` = 0, ``MIN_TOKEN_BUCKET`` = 16) and SGLang-JAX to powers of
    two from 64 in prompt steps and to its batch buckets (1..256, powers of two) in decode steps
    (sgl_jax common_utils ``PRECOMPILE_DEFAULT_TOKEN_PADDINGS`` / ``_BS_PADDINGS``). The padded
    rows go through the linear layers (and the router) like real tokens; attention is ragged
    over the real sequences. Other engines and devices: unchanged."""
    if dep.hw.hw_class not in dep.engine.pow2_token_buckets:
        return tokens
    padded: np.ndarray = np.where(tokens > 0, 2.0 ** np.ceil(np.log2(np.maximum(tokens, MIN_TOKEN_BUCKET))), 0.0)
    return padded
