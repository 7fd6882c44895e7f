"""Measure a GPU with torch (the optional ``gpu`` extra): bandwidth, GEMM, a synthetic model.

What is measured, on device 0:
- device-to-device copy bandwidth (``dst.copy_(src)``, read + write counted, STREAM style);
- bf16 GEMM and fp8 GEMM (``torch._scaled_mm``, where the GPU and torch support it);
- the decode step and the prefill of a synthetic model with the real layer shapes of a catalog
  model or config.json (random bf16 weights: speed does not depend on values). The decode step
  is captured in a CUDA graph (engine ``pytorch-cudagraph``, gpt-fast style) or run eagerly
  (``pytorch-eager``). Batches and contexts are chosen to fit the free GPU memory; what does not
  fit is listed in ``skipped``; if the weights alone do not fit, fewer layers are used and the
  rows reference the shrunken config.json.

The synthetic decoder layer is what an engine runs per layer: RMSNorm, fused QKV projection,
KV-cache write, attention over the cache (SDPA, GQA), output projection, residual, RMSNorm,
fused gate/up projection, SiLU x up, down projection, residual; then the final norm and the LM
head on the last token. RoPE is omitted (elementwise, well under 1% of a step).

torch is imported lazily, and every function takes the torch module as ``torch`` so tests can
inject a fake device (``tests/bench/fake_torch.py``); nothing else here touches torch's
internals. Rows follow the canonical schema (``bench/rows.py``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from inferplan.bench.rows import measured_row, today
from inferplan.errors import InputError
from inferplan.models.spec import ModelSpec

__all__ = ["THIS_GPU", "GpuInfo", "GpuBenchResult", "load_torch", "detect_gpu", "match_gpu",
           "run_gpu_bench"]

THIS_GPU = "this-gpu"  # hardware id of the generated entry when the GPU is not in the catalog
ENGINES = ("pytorch-cudagraph", "pytorch-eager")
MEMORY_BUDGET = 0.85  # share of the free memory the benchmark may allocate
Progress = Callable[[str], None]


class GpuInfo(BaseModel):
    name: str
    vendor: str
    backend: str  # cuda | rocm
    memory_bytes: float
    free_bytes: float
    torch_version: str


class GemmResult(BaseModel):
    dtype: str
    m: int
    n: int
    k: int
    seconds: float
    flops_s: float


class StepResult(BaseModel):
    phase: str  # decode | prefill
    batch: int
    context_tokens: int  # decode: cached tokens attended; prefill: prompt tokens per sequence
    graph: bool
    seconds: float  # one step (decode) or one whole prefill forward


class GpuBenchResult(BaseModel):
    date: str
    device: GpuInfo
    hardware_id: str
    matched_catalog: bool
    hardware_file: str | None = None
    d2d_bytes_s: float | None
    gemm: list[GemmResult]
    model: str
    engine: str
    layers: int  # layers run (fewer than the model's when the weights did not fit)
    steps: list[StepResult]
    skipped: list[str]
    rows: list[dict[str, str]]
    configs: dict[str, dict]  # file name -> config.json of a shrunken model the rows reference
    duration_s: float


def load_torch():
    """``torch`` with a usable CUDA/ROCm device, or InputError saying how to get one."""
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        raise InputError("the GPU benchmark needs torch: pip install 'inferplan[gpu]' "
                         "(or run `inferplan bench --no-gpu`)") from None
    if not torch.cuda.is_available():
        raise InputError("torch sees no CUDA/ROCm device (torch.cuda.is_available() is False)")
    return torch


def detect_gpu(torch) -> GpuInfo:
    free, total = torch.cuda.mem_get_info()
    name = str(torch.cuda.get_device_name(0))
    hip = getattr(getattr(torch, "version", None), "hip", None)
    vendor = "AMD" if hip or "amd" in name.lower() or "instinct" in name.lower() else "NVIDIA"
    return GpuInfo(name=name, vendor=vendor, backend="rocm" if hip else "cuda",
                   memory_bytes=float(total), free_bytes=float(free),
                   torch_version=str(getattr(torch, "__version__", "?")))


def _tokens(s: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", s.lower())


FORM_FACTORS = ("sxm", "pcie", "nvl", "gcd")


def match_gpu(gpu: GpuInfo, catalog: dict | None = None) -> str | None:
    """Catalog id for a torch device name (``NVIDIA H100 80GB HBM3`` -> h100-sxm).

    The model token of the id (first part with a digit: h100, a100, 4090, mi300x) must be in the
    name; a form factor in the name (PCIe, NVL, SXM) must match the id's, and a name without one
    is the SXM/OAM part; the memory size must be within 15%.
    """
    if catalog is None:
        from inferplan.catalog.hardware import hardware_catalog

        catalog = hardware_catalog()
    name = _tokens(gpu.name)
    name_ff = {f for f in FORM_FACTORS for t in name if t.startswith(f)}
    best: tuple[float, str] | None = None
    for hid, spec in catalog.items():
        if spec.hw_class != "gpu" or hid == THIS_GPU or spec.vendor != gpu.vendor:
            continue
        parts = hid.split("-")
        model_tok = next((p for p in parts if any(c.isdigit() for c in p)), None)
        if model_tok is None or model_tok not in name:
            continue
        ff = {p for p in parts if p in FORM_FACTORS}
        if ff != name_ff and not (not name_ff and ff <= {"sxm"}):
            continue
        if spec.memory_bytes:
            err = abs(gpu.memory_bytes - spec.memory_bytes) / spec.memory_bytes
            if err > 0.15:
                continue
        else:
            err = 1.0
        if best is None or err < best[0]:
            best = (err, hid)
    return best[1] if best else None


# --- timing --------------------------------------------------------------------------------------


def _time(torch, fn: Callable[[], Any], reps: int, warmup: int = 2) -> float:
    """Seconds per call of ``fn`` on the device (CUDA events around ``reps`` calls)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1e3 / reps  # ms -> s


def measure_copy(torch, free_bytes: float, reps: int) -> float:
    """Device-to-device bandwidth in bytes/s (read + write of the copied buffer)."""
    n = int(min(2**30, free_bytes / 8)) // 2  # bf16 elements, two buffers
    src = torch.empty(n, dtype=torch.bfloat16, device="cuda")
    dst = torch.empty(n, dtype=torch.bfloat16, device="cuda")
    s = _time(torch, lambda: dst.copy_(src), reps)
    return 2 * n * 2 / s  # read + write, 2 bytes each


def measure_gemms(torch, n: int, reps: int, skipped: list[str]) -> list[GemmResult]:
    """bf16 and fp8 (E4M3, scaled) GEMM of n x n x n."""
    out = []
    a = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(n, n, dtype=torch.bfloat16, device="cuda")
    s = _time(torch, lambda: a @ b, reps)
    out.append(GemmResult(dtype="bf16", m=n, n=n, k=n, seconds=s, flops_s=2 * n**3 / s))
    f8 = getattr(torch, "float8_e4m3fn", None)
    if f8 is None or not hasattr(torch, "_scaled_mm"):
        skipped.append("fp8 GEMM: this torch has no float8_e4m3fn/_scaled_mm")
        return out
    try:
        a8 = a.to(f8)
        b8 = b.to(f8).t().contiguous().t()  # column-major second operand, as cuBLASLt wants
        one = torch.tensor(1.0, dtype=torch.float32, device="cuda")
        s = _time(torch, lambda: torch._scaled_mm(a8, b8, scale_a=one, scale_b=one,
                                                  out_dtype=torch.bfloat16), reps)
        out.append(GemmResult(dtype="fp8", m=n, n=n, k=n, seconds=s, flops_s=2 * n**3 / s))
    except (RuntimeError, TypeError, ValueError) as e:  # e.g. no fp8 tensor cores (A100)
        skipped.append(f"fp8 GEMM: not supported on this device/torch ({str(e).splitlines()[0][:120]})")
    return out


# --- the synthetic model ----------------------------------------------------------------------------


def _check_shape(model: ModelSpec) -> None:
    g = model.groups[0] if len(model.groups) == 1 else None
    if g is None or g.mixer.kind != "attention" or g.ffn.kind != "dense" or g.mixer.window_tokens:
        raise InputError(
            f"the GPU synthetic model supports one stack of full GQA attention + dense FFN layers; "
            f"{model.id} has {len(model.groups)} layer kinds "
            f"({', '.join(f'{x.mixer.kind}/{x.ffn.kind}' for x in model.groups)}). "
            f"Try llama-3.1-8b, qwen2.5-7b or mistral-7b-v0.1")


def _weight_bytes(model: ModelSpec) -> tuple[float, float]:
    """(bytes of one layer, bytes of embedding + LM head) in bf16."""
    g = model.groups[0]
    bf16 = 2  # bytes per element
    ends = model.embedding_params * (1 if model.tie_word_embeddings else 2)
    return g.params_per_layer * bf16, ends * bf16


def _kv_bytes(model: ModelSpec, layers: int, batch: int, ctx: int) -> float:
    m = model.groups[0].mixer
    return layers * 2 * batch * m.num_kv_heads * m.head_dim * ctx * 2  # K and V, bf16


class SyntheticDecoder:
    """Random-weight decoder with ``model``'s shapes; methods run one step on the device."""

    def __init__(self, torch, model: ModelSpec, layers: int):
        g = model.groups[0]
        m, f = g.mixer, g.ffn
        self.t, self.model, self.layers = torch, model, layers
        self.d, self.h, self.kv, self.hd = model.hidden_size, m.num_q_heads, m.num_kv_heads, m.head_dim
        dt = torch.bfloat16

        def w(*shape):
            return torch.randn(*shape, dtype=dt, device="cuda")

        qkv = (self.h + 2 * self.kv) * self.hd
        up = (2 if f.gated else 1) * f.intermediate_size
        self.gated = f.gated
        self.blocks = [dict(n1=w(self.d), wqkv=w(self.d, qkv), wo=w(self.h * self.hd, self.d),
                            n2=w(self.d), w13=w(self.d, up), w2=w(f.intermediate_size, self.d))
                       for _ in range(layers)]
        self.norm = w(self.d)
        self.head = w(self.d, model.vocab_size)
        self.k_cache: list = []
        self.v_cache: list = []

    def alloc_cache(self, batch: int, ctx: int) -> None:
        t = self.t
        self.free_cache()
        for _ in range(self.layers):
            self.k_cache.append(t.randn(batch, self.kv, ctx, self.hd, dtype=t.bfloat16, device="cuda"))
            self.v_cache.append(t.randn(batch, self.kv, ctx, self.hd, dtype=t.bfloat16, device="cuda"))

    def free_cache(self) -> None:
        self.k_cache, self.v_cache = [], []

    def _layer(self, x, i: int, pos, causal: bool, cached: bool):
        """x: [B, S, d] -> [B, S, d]; writes K/V at ``pos`` and attends the cache when cached."""
        F = self.t.nn.functional
        p = self.blocks[i]
        B, S = x.shape[0], x.shape[1]
        h = F.rms_norm(x, (self.d,), p["n1"])
        qkv = h @ p["wqkv"]
        q, k, v = qkv.split([self.h * self.hd, self.kv * self.hd, self.kv * self.hd], dim=-1)
        q = q.view(B, S, self.h, self.hd).transpose(1, 2)
        k = k.view(B, S, self.kv, self.hd).transpose(1, 2)
        v = v.view(B, S, self.kv, self.hd).transpose(1, 2)
        if cached:
            self.k_cache[i].index_copy_(2, pos, k)
            self.v_cache[i].index_copy_(2, pos, v)
            k, v = self.k_cache[i], self.v_cache[i]
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        x = x + o.transpose(1, 2).reshape(B, S, self.h * self.hd) @ p["wo"]
        h = F.rms_norm(x, (self.d,), p["n2"])
        gu = h @ p["w13"]
        if self.gated:
            g, u = gu.chunk(2, dim=-1)
            a = F.silu(g) * u
        else:
            a = F.silu(gu)
        return x + a @ p["w2"]

    def decode(self, x, pos):
        """One decode step for x: [B, 1, d] with the KV cache; returns logits [B, 1, V]."""
        for i in range(self.layers):
            x = self._layer(x, i, pos, causal=False, cached=True)
        return self.t.nn.functional.rms_norm(x, (self.d,), self.norm) @ self.head

    def prefill(self, x):
        """Prefill x: [B, S, d] (causal attention among the prompt); logits of the last token."""
        for i in range(self.layers):
            x = self._layer(x, i, None, causal=True, cached=False)
        last = x[:, -1:, :]
        return self.t.nn.functional.rms_norm(last, (self.d,), self.norm) @ self.head


def _graphed(torch, fn: Callable[[], Any]) -> Callable[[], Any]:
    """Capture ``fn`` in a CUDA graph (warm-up on a side stream, as torch.cuda.graph requires)."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


def _config_for_rows(model_arg: str, layers: int) -> tuple[str, dict]:
    """(file name, config.json with ``layers`` layers) of a catalog id or config path."""
    from inferplan.catalog._load import data_path
    from inferplan.models.registry import get_model, list_model_ids, load_config

    spec = get_model(model_arg)
    in_catalog = spec.id in list_model_ids()
    cfg, _ = load_config(data_path("models", f"{spec.id}.json") if in_catalog else Path(model_arg))
    cfg = dict(cfg)
    if layers == spec.num_layers:
        return f"{spec.id}.json", cfg
    text = cfg.get("text_config")
    if isinstance(text, dict):
        cfg["text_config"] = {**text, "num_hidden_layers": layers}
    else:
        cfg["num_hidden_layers"] = layers
    cfg["_inferplan_synthetic"] = f"{spec.id} with {layers} of {spec.num_layers} layers (GPU bench)"
    return f"{spec.id}-{layers}l.json", cfg


# --- the whole run ------------------------------------------------------------------------------


def run_gpu_bench(model: str = "llama-3.1-8b", *, torch=None, engine: str = "pytorch-cudagraph",
                  hardware: str | None = None, quick: bool = False,
                  batches: tuple[int, ...] = (1, 8, 32, 64), input_len: int = 1024,
                  output_len: int = 128, prefill_len: int = 2048,
                  progress: Progress | None = None, write_entry: bool = True) -> GpuBenchResult:
    """Measure device 0: copy bandwidth, GEMMs, and the synthetic model's decode and prefill.

    ``torch``: the torch module (default: imported; tests pass a fake). ``hardware``: catalog id
    to record rows under (default: matched from the device name, else a generated ``this-gpu``
    entry in ``$INFERPLAN_HOME/hardware``). Decode rows: ``decode_tok_s_per_user`` at
    ``batch`` B with input_len I and output_len O, the step timed at the mean context I + O/2
    (attention cost is linear in context, so this is the mean step of the generation). Prefill
    rows: ``prefill_tok_s`` of one ``prefill_len``-token prompt (output_len 0).
    """
    from inferplan.models.registry import get_model, list_model_ids

    if engine not in ENGINES:
        raise InputError(f"unknown GPU bench engine '{engine}' (known: {', '.join(ENGINES)})")
    t0 = time.perf_counter()
    torch = torch or load_torch()
    spec = get_model(model)
    _check_shape(spec)
    say = progress or (lambda _s: None)
    skipped: list[str] = []
    reps = 5 if quick else 20
    if quick:
        batches, input_len, output_len, prefill_len = tuple(batches[:2]), 512, 64, 512

    gpu = detect_gpu(torch)
    hid = hardware or match_gpu(gpu)
    graph = engine == "pytorch-cudagraph"
    with torch.inference_mode():
        say("device-to-device copy")
        d2d = measure_copy(torch, gpu.free_bytes, reps)
        say("bf16 / fp8 GEMM")
        gemm = measure_gemms(torch, 4096 if quick else 8192, reps, skipped)

        if hasattr(torch.cuda, "empty_cache"):
            torch.cuda.empty_cache()  # the caching allocator still holds the GEMM buffers
        free, _ = torch.cuda.mem_get_info()
        budget = free * MEMORY_BUDGET
        per_layer, ends = _weight_bytes(spec)
        act = 4 * prefill_len * max(spec.groups[0].ffn.intermediate_size, spec.hidden_size) * 2
        layers = spec.num_layers
        if ends + layers * per_layer + act > budget:
            layers = int((budget * 0.8 - ends - act) // per_layer)
            if layers < 1:
                raise InputError(
                    f"{spec.id}: embedding and LM head alone ({ends / 1e9:.1f} GB bf16) do not fit "
                    f"{free / 1e9:.1f} GB free on {gpu.name}")
            skipped.append(f"weights of all {spec.num_layers} layers ({(ends + spec.num_layers * per_layer) / 1e9:.1f} GB "
                           f"bf16) do not fit {free / 1e9:.1f} GB free: ran {layers} layers; rows "
                           f"reference the shrunken config.json")
        say(f"building {spec.id} ({layers} layers, random bf16 weights)")
        dec = SyntheticDecoder(torch, spec, layers)
        room = budget - ends - layers * per_layer - act
        ctx = input_len + output_len // 2
        steps: list[StepResult] = []
        for b in batches:
            need = _kv_bytes(spec, layers, b, ctx)
            if need > room:
                skipped.append(f"decode batch {b} at context {ctx}: KV cache {need / 1e9:.1f} GB > "
                               f"{room / 1e9:.1f} GB left after the weights")
                continue
            say(f"decode step, batch {b}, context {ctx}{' (CUDA graph)' if graph else ''}")
            dec.alloc_cache(b, ctx)
            x = torch.randn(b, 1, spec.hidden_size, dtype=torch.bfloat16, device="cuda")
            pos = torch.tensor([ctx - 1], dtype=torch.long, device="cuda")

            def step(x=x, pos=pos):
                return dec.decode(x, pos)

            fn = _graphed(torch, step) if graph else step
            s = _time(torch, fn, reps)
            steps.append(StepResult(phase="decode", batch=b, context_tokens=ctx, graph=graph, seconds=s))
            dec.free_cache()
            del fn
            if hasattr(torch.cuda, "empty_cache"):
                torch.cuda.empty_cache()
        say(f"prefill of {prefill_len} tokens")
        x = torch.randn(1, prefill_len, spec.hidden_size, dtype=torch.bfloat16, device="cuda")
        s = _time(torch, lambda: dec.prefill(x), max(2, reps // 4), warmup=1)
        steps.append(StepResult(phase="prefill", batch=1, context_tokens=prefill_len, graph=False, seconds=s))

    file = None
    if hid is None:
        hid = THIS_GPU
        if write_entry:
            file = str(_write_gpu_entry(gpu, d2d, gemm))
    # rows must name a model `validate` can load: the catalog id, else a config.json beside the CSV
    configs: dict[str, dict] = {}
    model_ref = spec.id
    if layers != spec.num_layers or spec.id not in list_model_ids():
        model_ref, cfg = _config_for_rows(model, layers)
        configs[model_ref] = cfg
    rows = _rows(steps, model_ref, hid, engine, gpu, layers, spec, input_len, output_len)
    return GpuBenchResult(
        date=today(), device=gpu, hardware_id=hid, matched_catalog=hid != THIS_GPU,
        hardware_file=file, d2d_bytes_s=d2d, gemm=gemm, model=spec.id, engine=engine,
        layers=layers, steps=steps, skipped=skipped, rows=rows, configs=configs,
        duration_s=time.perf_counter() - t0,
    )


def _rows(steps: list[StepResult], model_ref: str, hid: str, engine: str, gpu: GpuInfo,
          layers: int, spec: ModelSpec, I: int, O: int) -> list[dict[str, str]]:
    rows = []
    for s in steps:
        notes: dict[str, object] = {"device": gpu.name.replace(";", ","), "torch": gpu.torch_version,
                 "synthetic": f"random bf16 weights, {layers} of {spec.num_layers} layers",
                 "graph": "cuda" if s.graph else "none"}
        if s.phase == "decode":
            notes["timed_context"] = s.context_tokens
            rows.append(measured_row(
                id=f"gpu-decode-b{s.batch}", model_id=model_ref, hardware_id=hid,
                weight_precision="bf16", kv_precision="bf16", engine=engine,
                metric="decode_tok_s_per_user", value=1 / s.seconds, batch=s.batch,
                input_len=I, output_len=O, notes=notes))
        else:
            rows.append(measured_row(
                id=f"gpu-prefill-{s.context_tokens}", model_id=model_ref, hardware_id=hid,
                weight_precision="bf16", kv_precision="bf16", engine=engine,
                metric="prefill_tok_s", value=s.batch * s.context_tokens / s.seconds,
                batch=s.batch, input_len=s.context_tokens, output_len=0, notes=notes))
    return rows


def _write_gpu_entry(gpu: GpuInfo, d2d: float | None, gemm: list[GemmResult]) -> Path:
    """A catalog entry for a GPU the catalog lacks, from the measurements (peaks = measured)."""
    from inferplan.bench.cpu import write_hardware_entry

    date = today()
    peaks = {g.dtype: float(f"{g.flops_s:.4g}") for g in gemm}
    bw = float(f"{(d2d or 1e11):.4g}")
    entry = {
        "id": THIS_GPU, "name": f"{gpu.name} (measured)", "vendor": gpu.vendor, "hw_class": "gpu",
        "memory_bytes": float(f"{gpu.memory_bytes:.6g}"), "memory_bw_bytes_s": bw,
        "memory_bw_reachable_bytes_s": bw, "peak_flops": peaks, "default_engine": "vllm",
        "spec_source": f"inferplan bench {date} on this GPU (torch {gpu.torch_version})",
        "field_sources": {
            "memory_bw_bytes_s": f"inferplan bench {date}: device-to-device copy (read + write); "
                                 "the datasheet peak is higher: override with --hardware-file",
            "peak_flops": f"inferplan bench {date}: measured GEMM rates, not datasheet peaks",
            "memory_bytes": "torch.cuda.mem_get_info total",
        },
    }
    return write_hardware_entry(entry)
