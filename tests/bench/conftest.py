"""Fixtures of the bench tests: a tiny Llama-shaped config and a generated CPU entry."""

from __future__ import annotations

import json

import pytest

# Row lengths are multiples of 256 so every GGUF type (TQ1_0/TQ2_0 included) can hold them.
TINY = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "intermediate_size": 512, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 512,
        "max_position_embeddings": 2048, "tie_word_embeddings": True}


@pytest.fixture
def tiny_config(tmp_path):
    p = tmp_path / "tiny-llama.json"
    p.write_text(json.dumps(TINY))
    return p


@pytest.fixture
def this_machine():
    """A `this-machine` entry from made-up measurements (no benchmark run): fast and fixed."""
    from inferplan.bench.cpu import BandwidthPoint, CpuInfo, hardware_entry, write_hardware_entry

    cpu = CpuInfo(model_name="Test CPU 9000", vendor="AMD", arch="x86_64", family=25, cores=2,
                  threads=2, clock_hz=3.0e9, simd=["avx2", "fma", "avx512f", "avx512_vnni"],
                  l3_bytes=32 * 2**20, memory_bytes=16e9)
    bw = [BandwidthPoint(threads=1, read_bytes_s=25e9, copy_bytes_s=20e9),
          BandwidthPoint(threads=2, read_bytes_s=32e9, copy_bytes_s=26e9)]
    write_hardware_entry(hardware_entry(cpu, bw, [], "2026-01-01", 256 * 2**20))
    return "this-machine"
