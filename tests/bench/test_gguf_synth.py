"""Synthetic GGUF files carry the model's exact shapes, llama.cpp's tokenizer needs, and types."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from inferplan.bench.gguf_synth import (
    MIN_VOCAB,
    synthetic_config,
    synthetic_model,
    write_synthetic_gguf,
)
from inferplan.errors import InputError
from inferplan.models.registry import get_model

gguf = pytest.importorskip("gguf")


def _read(path):
    r = gguf.GGUFReader(path)
    tensors = {t.name: (tuple(int(x) for x in t.shape), t.tensor_type.name) for t in r.tensors}
    f = r.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(f.parts[i]).decode() for i in f.data]
    return r, tensors, tokens


def test_file_has_the_models_shapes_and_a_tokenizer_with_byte_tokens(tmp_path, tiny_config):
    m = get_model(tiny_config)
    path = write_synthetic_gguf(m, tmp_path / "t.gguf", "q4_0")
    r, tensors, tokens = _read(path)
    # gguf lists shapes innermost first: (in, out)
    assert tensors["blk.0.attn_q.weight"] == ((256, 256), "Q4_0")
    assert tensors["blk.1.attn_k.weight"] == ((256, 128), "Q4_0")  # 2 kv heads x 64
    assert tensors["blk.1.ffn_down.weight"] == ((512, 256), "Q4_0")
    assert tensors["blk.0.attn_norm.weight"] == ((256,), "F32")
    assert tensors["token_embd.weight"] == ((256, 512), "Q6_K")  # tied head, as llama-quant does
    assert "output.weight" not in tensors and "blk.2.attn_q.weight" not in tensors
    assert len(tokens) == 512 == len(set(tokens))
    assert {f"<0x{b:02X}>" for b in range(256)} <= set(tokens)
    assert bytes(r.fields["general.architecture"].parts[-1]).decode() == "llama"


def test_same_seed_writes_the_same_file_and_another_seed_does_not(tmp_path, tiny_config):
    m = get_model(tiny_config)

    def digest(name, seed):
        return hashlib.sha256(write_synthetic_gguf(m, tmp_path / name, "q8_0", seed=seed).read_bytes()).hexdigest()

    assert digest("a.gguf", 1) == digest("b.gguf", 1) != digest("c.gguf", 2)


def test_shrunken_model_round_trips_through_its_config_json(tmp_path):
    base = get_model("llama-3.2-1b")
    small = synthetic_model(base, layers=1, vocab=512)
    assert small.num_layers == 1 and small.vocab_size == 512 and small.id == "llama-3.2-1b-1l-v512"
    p = tmp_path / f"{small.id}.json"
    p.write_text(json.dumps(synthetic_config(small)))
    back = get_model(p)
    assert back.total_params == small.total_params
    assert back.groups[0].mixer == small.groups[0].mixer and back.groups[0].ffn == small.groups[0].ffn
    _, tensors, _ = _read(write_synthetic_gguf(base, tmp_path / "s.gguf", "f16", layers=1, vocab=512))
    assert tensors["blk.0.ffn_gate.weight"] == ((2048, 8192), "F16")
    assert tensors["token_embd.weight"] == ((2048, 512), "F16")
    assert synthetic_model(base) is base


def test_ternary_types_need_rows_of_256(tmp_path, tiny_config):
    m = get_model(tiny_config)
    g = m.groups[0]
    narrow = dataclasses.replace(m, groups=(dataclasses.replace(
        g, ffn=dataclasses.replace(g.ffn, intermediate_size=320)),))
    write_synthetic_gguf(narrow, tmp_path / "ok.gguf", "q4_0")  # 320 = 10 blocks of 32
    with pytest.raises(InputError, match="multiple of 256"):
        write_synthetic_gguf(narrow, tmp_path / "bad.gguf", "tq2_0")
    assert not (tmp_path / "bad.gguf").exists()


@pytest.mark.parametrize("kw,needle", [
    (dict(qtype="q4_k_m"), "unknown GGUF type"),
    (dict(qtype="f16", vocab=MIN_VOCAB - 1), "256 byte tokens"),
    (dict(qtype="f16", layers=0), "layers must be >= 1"),
])
def test_bad_requests_name_the_fix(tmp_path, tiny_config, kw, needle):
    with pytest.raises(InputError, match=needle):
        write_synthetic_gguf(get_model(tiny_config), tmp_path / "x.gguf", **kw)


def test_non_llama_shapes_are_refused_with_alternatives(tmp_path):
    with pytest.raises(InputError, match="Llama-family"):
        write_synthetic_gguf(get_model("qwen3-30b-a3b"), tmp_path / "x.gguf", "f16")
