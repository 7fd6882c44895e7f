"""Synthetic GGUF files: the real architecture of a catalog model, random weights.

Speed does not depend on weight values, so a GGUF with a model's exact shapes and random
weights measures what the real checkpoint would (llama.cpp runs the same kernels on the same
bytes). :func:`write_synthetic_gguf` writes one with the ``gguf`` package (an optional extra):
matrices in F16/BF16, or quantized by gguf-py's numpy quantizers to Q8_0, Q4_0, TQ1_0, TQ2_0;
norms in F32. The token embedding and LM head use the type llama.cpp's own quantizer gives them
(``llama-quant.cpp``: Q6_K for 4-bit and ternary files, the file's type otherwise), so the bytes
per decode step match ``head_bits`` of ``catalog/data/precisions.yaml``. gguf-py cannot quantize
to Q6_K; those blocks are written directly as random valid blocks (values are irrelevant).

Not here: running the engine (``bench/llamacpp.py``). Only Llama-family shapes (one stack of
GQA attention + gated dense FFN layers, no biases) are supported: that is llama.cpp's ``llama``
architecture. The tokenizer is a SentencePiece-style list of unique tokens with the 256 byte
tokens ``<0x00>``..``<0xFF>`` (llama.cpp aborts the process without them); benchmarks feed token
ids directly, so no text is ever tokenized.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inferplan.errors import InputError
from inferplan.models.spec import ModelSpec

__all__ = ["QTYPES", "MIN_VOCAB", "synthetic_config", "synthetic_model", "write_synthetic_gguf"]

# precision id -> (ggml type of the matrices, ggml type of embedding/LM head, llama file type)
QTYPES: dict[str, tuple[str, str, str]] = {
    "f16": ("F16", "F16", "MOSTLY_F16"),
    "bf16": ("BF16", "BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "Q8_0", "MOSTLY_Q8_0"),
    "q4_0": ("Q4_0", "Q6_K", "MOSTLY_Q4_0"),
    "tq1_0": ("TQ1_0", "Q6_K", "MOSTLY_TQ1_0"),
    "tq2_0": ("TQ2_0", "Q6_K", "MOSTLY_TQ2_0"),
}
N_SPECIAL = 3  # <unk>, <s>, </s>
MIN_VOCAB = N_SPECIAL + 256  # + the byte tokens llama.cpp's SPM tokenizer requires
WEIGHT_STD = 0.02  # initializer_range of Llama configs: keeps activations finite over layers
DEFAULT_RMS_EPS = 1e-5
DEFAULT_ROPE_THETA = 500000.0


def synthetic_model(model: ModelSpec, *, layers: int | None = None,
                    vocab: int | None = None) -> ModelSpec:
    """``model`` with ``layers`` decoder layers and a ``vocab``-token vocabulary (None: keep)."""
    _check_llama_shape(model)
    g = model.groups[0]
    n_layers = model.num_layers if layers is None else layers
    n_vocab = model.vocab_size if vocab is None else vocab
    if n_layers < 1:
        raise InputError(f"layers must be >= 1, not {n_layers}")
    if n_vocab < MIN_VOCAB:
        raise InputError(f"vocab must be >= {MIN_VOCAB} (3 special + 256 byte tokens), not {n_vocab}")
    if (n_layers, n_vocab) == (model.num_layers, model.vocab_size):
        return model
    suffix = "".join([f"-{n_layers}l" if n_layers != model.num_layers else "",
                      f"-v{n_vocab}" if n_vocab != model.vocab_size else ""])
    return dataclasses.replace(model, id=f"{model.id}{suffix}", name=f"{model.name}{suffix}",
                               vocab_size=n_vocab, groups=(dataclasses.replace(g, count=n_layers),))


def synthetic_config(model: ModelSpec) -> dict:
    """The Hugging Face ``config.json`` (LlamaForCausalLM) of ``model``'s shapes.

    ``inferplan.models.registry.get_model`` reads it back to the same shapes, so measured rows of
    a shrunken model (fewer layers, smaller vocabulary) can reference it.
    """
    _check_llama_shape(model)
    m, f = model.groups[0].mixer, model.groups[0].ffn
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": model.hidden_size,
        "intermediate_size": f.intermediate_size,
        "num_hidden_layers": model.num_layers,
        "num_attention_heads": m.num_q_heads,
        "num_key_value_heads": m.num_kv_heads,
        "head_dim": m.head_dim,
        "vocab_size": model.vocab_size,
        "max_position_embeddings": model.max_context_tokens,
        "tie_word_embeddings": model.tie_word_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "hidden_act": "silu",
        "rms_norm_eps": DEFAULT_RMS_EPS,
        "rope_theta": DEFAULT_ROPE_THETA,
        "torch_dtype": "bfloat16",
        "_inferplan_synthetic": f"shapes of {model.source or model.id} (random-weight GGUF benchmark)",
    }


def write_synthetic_gguf(model: ModelSpec, path: Path, qtype: str, *, layers: int | None = None,
                         vocab: int | None = None, seed: int = 0,
                         progress: Callable[[int, int], None] | None = None) -> Path:
    """Write a GGUF with ``model``'s architecture and random weights in ``qtype``; return ``path``.

    qtype: a precision id of :data:`QTYPES` (f16, bf16, q8_0, q4_0, tq1_0, tq2_0). ``layers`` and
    ``vocab`` shrink the model (e.g. for fast tests); :func:`synthetic_config` of
    :func:`synthetic_model` gives the matching ``config.json``. Tensors are generated one at a
    time from ``seed`` (same seed, same file), so memory stays at about one tensor.
    ``progress(done_bytes, total_bytes)`` is called after each tensor.
    Raises InputError for a shape the format cannot hold (TQ types need every row length, i.e.
    the hidden, attention and FFN widths, to be a multiple of 256; Q8_0/Q4_0 a multiple of 32).
    """
    import gguf

    if qtype not in QTYPES:
        raise InputError(f"unknown GGUF type '{qtype}' for a synthetic model (known: {', '.join(QTYPES)})")
    spec = synthetic_model(model, layers=layers, vocab=vocab)
    plan = _tensor_plan(spec, qtype)
    types = gguf.GGMLQuantizationType
    for name, shape, tname in plan:
        block = gguf.GGML_QUANT_SIZES[types[tname]][0]
        if shape[-1] % block:
            raise InputError(
                f"{spec.id}: tensor {name} has rows of {shape[-1]} elements; {tname} needs a "
                f"multiple of {block} (choose another qtype or a model with such widths)")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(path, "llama")
    _add_metadata(w, gguf, spec, qtype)
    nbytes = {}
    for name, shape, tname in plan:
        t = types[tname]
        block, size = gguf.GGML_QUANT_SIZES[t]
        nbytes[name] = int(np.prod(shape)) // block * size
        w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes[name], raw_dtype=t)
    total = sum(nbytes.values())
    done = 0
    tmp = path.with_name(path.name + ".part")
    try:
        w.write_header_to_file(tmp)
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        for i, (name, shape, tname) in enumerate(plan):
            rng = np.random.default_rng([seed, i])
            data = _tensor_data(gguf, rng, name, shape, tname)
            w.write_tensor_data(data)
            done += nbytes[name]
            if progress:
                progress(done, total)
        w.close()
        tmp.replace(path)  # a crash never leaves a truncated model under the final name
    finally:
        w.close()
        tmp.unlink(missing_ok=True)
    return path


# --- internals ---------------------------------------------------------------------------------


def _check_llama_shape(model: ModelSpec) -> None:
    why = []
    if len(model.groups) != 1:
        why.append(f"{len(model.groups)} different layer kinds")
    else:
        g = model.groups[0]
        m, f = g.mixer, g.ffn
        if m.kind != "attention":
            why.append(f"{m.kind} token mixer")
        if m.qkv_bias or m.o_bias or f.bias:
            why.append("biases")
        if m.qk_norm or m.sinks or m.window_tokens:
            why.append("qk-norm, attention sinks or sliding windows")
        if f.kind != "dense" or not f.gated:
            why.append("a non-gated or MoE FFN")
        if g.norms_per_layer != 2:
            why.append(f"{g.norms_per_layer} norms per layer")
    if why:
        raise InputError(
            f"synthetic GGUF models support Llama-family shapes (GQA attention + gated dense FFN, "
            f"no biases); {model.id} has {', '.join(why)}. Try llama-3.2-1b, llama-3.1-8b or "
            f"mistral-7b-v0.1")


def _tensor_plan(spec: ModelSpec, qtype: str) -> list[tuple[str, tuple[int, ...], str]]:
    """(GGUF name, numpy shape (rows=out, cols=in), ggml type name), in file order."""
    mat, head, _ = QTYPES[qtype]
    g = spec.groups[0]
    m, f = g.mixer, g.ffn
    d, hd = spec.hidden_size, m.head_dim
    if d % 256:
        head = "Q8_0" if head == "Q6_K" else head  # llama.cpp's fallback when rows don't fit QK_K
    plan: list[tuple[str, tuple[int, ...], str]] = [("token_embd.weight", (spec.vocab_size, d), head)]
    for i in range(spec.num_layers):
        b = f"blk.{i}."
        plan += [
            (b + "attn_norm.weight", (d,), "F32"),
            (b + "attn_q.weight", (m.num_q_heads * hd, d), mat),
            (b + "attn_k.weight", (m.num_kv_heads * hd, d), mat),
            (b + "attn_v.weight", (m.num_kv_heads * hd, d), mat),
            (b + "attn_output.weight", (d, m.num_q_heads * hd), mat),
            (b + "ffn_norm.weight", (d,), "F32"),
            (b + "ffn_gate.weight", (f.intermediate_size, d), mat),
            (b + "ffn_up.weight", (f.intermediate_size, d), mat),
            (b + "ffn_down.weight", (d, f.intermediate_size), mat),
        ]
    plan.append(("output_norm.weight", (d,), "F32"))
    if not spec.tie_word_embeddings:
        plan.append(("output.weight", (spec.vocab_size, d), head))
    return plan


def _add_metadata(w, gguf, spec: ModelSpec, qtype: str) -> None:
    m, f = spec.groups[0].mixer, spec.groups[0].ffn
    w.add_name(f"{spec.id} (synthetic, random weights)")
    w.add_file_type(int(gguf.LlamaFileType[QTYPES[qtype][2]]))
    w.add_context_length(spec.max_context_tokens or 4096)
    w.add_embedding_length(spec.hidden_size)
    w.add_block_count(spec.num_layers)
    w.add_feed_forward_length(f.intermediate_size)
    w.add_head_count(m.num_q_heads)
    w.add_head_count_kv(m.num_kv_heads)
    w.add_key_length(m.head_dim)
    w.add_value_length(m.head_dim)
    w.add_rope_dimension_count(m.head_dim)
    w.add_rope_freq_base(DEFAULT_ROPE_THETA)
    w.add_layer_norm_rms_eps(DEFAULT_RMS_EPS)
    w.add_vocab_size(spec.vocab_size)
    tokens, types = _vocab(spec.vocab_size, gguf.TokenType)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)


def _vocab(n: int, tt) -> tuple[list[str], list[int]]:
    """Unique tokens: 3 specials, the 256 byte tokens, then placeholders up to ``n``."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [int(tt.UNKNOWN), int(tt.CONTROL), int(tt.CONTROL)] + [int(tt.BYTE)] * 256
    rest = n - len(tokens)
    tokens += [f"tok{i}" for i in range(rest)]
    types += [int(tt.NORMAL)] * rest
    return tokens, types


def _tensor_data(gguf, rng: np.random.Generator, name: str, shape: tuple[int, ...], tname: str):
    if tname == "F32":  # norm weights: ones, as trained models are near 1
        return np.ones(shape, dtype=np.float32)
    if tname == "Q6_K":
        return _random_q6_k(rng, shape)
    x = rng.standard_normal(shape, dtype=np.float32)
    x *= WEIGHT_STD
    if tname == "F16":
        return x.astype(np.float16)
    return gguf.quants.quantize(x, gguf.GGMLQuantizationType[tname])


def _random_q6_k(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Valid random block_q6_K data: ql[128] qh[64] (6-bit quants), int8 scales[16], fp16 d.

    Layout of ggml's block_q6_K (210 bytes / 256 weights); values ~ +-32 * scale * d.
    """
    rows, cols = shape
    n = rows * cols // 256
    quants = rng.integers(0, 256, size=(n, 192), dtype=np.uint8)
    scales = rng.integers(-16, 17, size=(n, 16), dtype=np.int8).view(np.uint8)
    d = np.full((n, 1), WEIGHT_STD / 256, dtype=np.float16).view(np.uint8)
    return np.concatenate([quants, scales, d], axis=1).reshape(rows, cols // 256 * 210)
