"""A fake torch with one simulated GPU: shapes only, time from a roofline per kernel.

Implements the part of torch's API that ``inferplan.bench.gpu`` uses (tensor creation,
matmul, SDPA, RMSNorm, SiLU, copies, CUDA events, streams and graphs, ``_scaled_mm``). Each op
is one kernel: eager ops cost a launch overhead plus max(FLOPs / peak, bytes / bandwidth) on a
simulated clock; ops captured in a CUDA graph replay without per-kernel launch cost. So the GPU
benchmark's code path runs in CI without torch or a GPU, with known, deterministic timings.
"""

from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import numpy as np

SIZES = {"bfloat16": 2, "float16": 2, "float32": 4, "float8_e4m3fn": 1, "long": 8}


class FakeDevice:
    def __init__(self, name="NVIDIA H100 80GB HBM3", total_bytes=80e9, free_bytes=79e9,
                 bw_bytes_s=3.0e12, peaks=None, launch_s=5e-6, graph_launch_s=10e-6, fp8=True):
        self.name, self.total, self.free = name, total_bytes, free_bytes
        self.bw, self.launch_s, self.graph_launch_s, self.fp8 = bw_bytes_s, launch_s, graph_launch_s, fp8
        self.peaks = peaks or {"bfloat16": 700e12, "float8_e4m3fn": 1400e12, "float32": 50e12}
        self.clock = 0.0
        self.capture: list[float] | None = None
        self.kernels = 0

    def kernel(self, flops: float, nbytes: float, dtype: str = "bfloat16") -> None:
        cost = max(flops / self.peaks.get(dtype, self.peaks["bfloat16"]), nbytes / self.bw)
        self.kernels += 1
        if self.capture is not None:
            self.capture.append(cost)
        else:
            self.clock += self.launch_s + cost


class FakeTensor:
    def __init__(self, dev: FakeDevice, shape, dtype: str):
        self.dev, self.shape, self.dtype = dev, tuple(int(s) for s in shape), dtype

    # sizes
    def numel(self) -> int:
        return math.prod(self.shape)

    def element_size(self) -> int:
        return SIZES[self.dtype]

    @property
    def nbytes(self) -> int:
        return self.numel() * self.element_size()

    def _new(self, shape, dtype=None) -> FakeTensor:
        return FakeTensor(self.dev, shape, dtype or self.dtype)

    # compute
    def __matmul__(self, other: FakeTensor) -> FakeTensor:
        assert self.shape[-1] == other.shape[-2], (self.shape, other.shape)
        out = self._new(self.shape[:-1] + other.shape[-1:])
        rows = math.prod(self.shape[:-1])
        self.dev.kernel(2 * rows * self.shape[-1] * other.shape[-1],
                        self.nbytes + other.nbytes + out.nbytes, self.dtype)
        return out

    def _elementwise(self, other) -> FakeTensor:
        out = self._new(np.broadcast_shapes(self.shape, getattr(other, "shape", ())))
        self.dev.kernel(out.numel(), 3 * out.nbytes)
        return out

    __add__ = __mul__ = _elementwise

    def copy_(self, src: FakeTensor) -> FakeTensor:
        self.dev.kernel(0, self.nbytes + src.nbytes)
        return self

    def index_copy_(self, dim: int, index: FakeTensor, src: FakeTensor) -> FakeTensor:
        assert src.shape[dim] == index.numel()
        self.dev.kernel(0, 2 * src.nbytes)
        return self

    def to(self, dtype: str) -> FakeTensor:
        out = self._new(self.shape, dtype)
        self.dev.kernel(0, self.nbytes + out.nbytes)
        return out

    # views (free)
    def view(self, *shape) -> FakeTensor:
        shape = list(shape)
        if -1 in shape:
            i = shape.index(-1)
            shape[i] = self.numel() // -math.prod(shape)
        assert math.prod(shape) == self.numel(), (shape, self.shape)
        return self._new(shape)

    reshape = view

    def transpose(self, a: int, b: int) -> FakeTensor:
        s = list(self.shape)
        s[a], s[b] = s[b], s[a]
        return self._new(s)

    def t(self) -> FakeTensor:
        return self.transpose(0, 1)

    def contiguous(self) -> FakeTensor:
        return self

    def split(self, sizes, dim=-1):
        assert sum(sizes) == self.shape[dim]
        out = []
        for n in sizes:
            s = list(self.shape)
            s[dim] = n
            out.append(self._new(s))
        return out

    def chunk(self, n: int, dim=-1):
        return self.split([self.shape[dim] // n] * n, dim)

    def __getitem__(self, idx) -> FakeTensor:
        probe = np.lib.stride_tricks.as_strided(np.zeros(1), self.shape, (0,) * len(self.shape))
        return self._new(probe[idx].shape)


def make_fake_torch(dev: FakeDevice | None = None) -> SimpleNamespace:
    """A module-like namespace standing in for ``torch`` on one fake CUDA device."""
    dev = dev or FakeDevice()

    def create(*shape, dtype="float32", device=None):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return FakeTensor(dev, shape, dtype)

    def tensor(value, dtype="float32", device=None):
        return FakeTensor(dev, np.shape(value), dtype)

    def rms_norm(x, normalized_shape, weight=None, eps=None):
        dev.kernel(4 * x.numel(), 2 * x.nbytes)
        return x._new(x.shape)

    def silu(x):
        dev.kernel(4 * x.numel(), 2 * x.nbytes)
        return x._new(x.shape)

    def sdpa(q, k, v, is_causal=False, enable_gqa=False):
        B, H, Sq, D = q.shape
        Sk = k.shape[2]
        assert enable_gqa or k.shape[1] == H
        flops = 4 * B * H * Sq * Sk * D * (0.5 if is_causal else 1.0)
        dev.kernel(flops, q.nbytes + k.nbytes + v.nbytes + q.nbytes)
        return q._new(q.shape)

    def scaled_mm(a, b, scale_a=None, scale_b=None, out_dtype="bfloat16"):
        if not dev.fp8:
            raise RuntimeError("torch._scaled_mm is only supported on CUDA devices with compute capability >= 9.0")
        out = FakeTensor(dev, (a.shape[0], b.shape[1]), out_dtype)
        dev.kernel(2 * a.shape[0] * a.shape[1] * b.shape[1], a.nbytes + b.nbytes + out.nbytes,
                   "float8_e4m3fn")
        return out

    class Event:
        def __init__(self, enable_timing=False):
            self.t = None

        def record(self, stream=None):
            self.t = dev.clock

        def elapsed_time(self, end) -> float:
            return (end.t - self.t) * 1e3  # ms, like torch

    class CUDAGraph:
        def __init__(self):
            self.ops: list[float] = []

        def replay(self):
            dev.clock += dev.graph_launch_s + sum(self.ops)

    @contextlib.contextmanager
    def graph(g):
        dev.capture = g.ops
        try:
            yield
        finally:
            dev.capture = None

    class Stream:
        def wait_stream(self, other):
            pass

    cuda = SimpleNamespace(
        is_available=lambda: True, get_device_name=lambda i=0: dev.name,
        mem_get_info=lambda: (dev.free, dev.total), synchronize=lambda: None,
        Event=Event, CUDAGraph=CUDAGraph, graph=graph, Stream=Stream,
        stream=lambda s: contextlib.nullcontext(), current_stream=lambda: Stream(),
        empty_cache=lambda: None,
    )
    return SimpleNamespace(
        __version__="0.0-fake", version=SimpleNamespace(cuda="12.fake", hip=None), cuda=cuda,
        bfloat16="bfloat16", float16="float16", float32="float32", float8_e4m3fn="float8_e4m3fn",
        long="long", empty=create, randn=create, zeros=create, tensor=tensor,
        inference_mode=contextlib.nullcontext, _scaled_mm=scaled_mm,
        nn=SimpleNamespace(functional=SimpleNamespace(
            rms_norm=rms_norm, silu=silu, scaled_dot_product_attention=sdpa)),
        device=dev,
    )
