"""Entities of the serving simulator: Request, Batch (one step's composition), step log,
scheduler configuration. Plain data; behaviour lives in scheduler.py and cluster.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Request states
WAITING, PREFILLING, DECODING, DONE, TRANSFER = range(5)


class SchedulerConfig(BaseModel):
    """Knobs of a replica's scheduler. ``None`` fields take the engine's catalog default."""

    model_config = ConfigDict(extra="forbid")
    policy: str | None = Field(default=None, description="'continuous' (vLLM-like) or 'serial' "
                               "(one request at a time, llama.cpp server); default from the engine")
    max_num_seqs: int | None = Field(default=None, ge=1)
    max_num_batched_tokens: int | None = Field(
        default=None, ge=1, description="tokens per step (decode + prefill chunk); default: the "
        "engine's prefill chunk, at least max_num_seqs")
    chunked_prefill: bool = True
    prefill_first: bool | None = Field(
        default=None, description="a step that takes waiting prompts runs them alone, the decodes "
        "pause (SGLang, vLLM V0); False: prompts ride in the decode steps (vLLM V1); default: "
        "the engine's")
    kv_reservation: Literal["on_demand", "full_sequence"] | None = Field(
        default=None, description="KV blocks taken as tokens arrive (preempting when they run "
        "out: vLLM, SGLang), or admission only while the blocks of every admitted request's "
        "prompt + output fit (TensorRT-LLM GUARANTEED_NO_EVICT: never preempts); default: the "
        "engine's")
    block_size: int | None = Field(default=None, ge=1, description="tokens per KV block; default: "
                                   "the engine's page (EngineSpec.kv_block_tokens: vLLM 16, "
                                   "TensorRT-LLM 32, SGLang and llama.cpp 1)")
    prefix_caching: bool = False
    kv_blocks: int | None = Field(default=None, ge=1, description="override the KV blocks that fit")


@dataclass(slots=True)
class Request:
    """One request and its life in the simulator (times in seconds from the start)."""

    id: int
    arrival_s: float
    input_tokens: int
    output_tokens: int
    prefix_id: int = -1
    prefix_tokens: int = 0
    # progress
    state: int = WAITING
    prompt_tokens: int = 0  # tokens to prefill: the input, + generated tokens after a preemption
    computed: int = 0  # prompt tokens with KV in cache
    out_left: int = 0  # output tokens still to emit
    offset: int = 0  # decode: cached tokens = offset + replica decode clock
    done_at: int = 0  # decode clock value at which the last token is out
    shared_blocks: int = 0  # prefix-cache blocks shared (not owned)
    user: int = -1  # closed-loop user issuing it
    replica: int = -1
    decode_replica: int = -1
    # outcomes
    scheduled_s: float = -1.0  # first time a step included it (leaves the queue)
    first_token_s: float = -1.0
    finish_s: float = -1.0
    preemptions: int = 0
    cached_tokens: int = 0  # prompt tokens served from the prefix cache
    rejected: str = ""
    front_s: float = 0.0  # in the API server before the engine sees it (arrival_s is the client's send)

    def __post_init__(self) -> None:
        self.prompt_tokens = self.input_tokens
        self.out_left = self.output_tokens


@dataclass(slots=True)
class Batch:
    """Composition of one step, as :func:`inferplan.perf.step.step_work` takes it."""

    decode_seqs: int = 0
    decode_ctx: float = 0.0  # mean cached tokens of the decode sequences
    prefill_tokens: int = 0
    prefill_seqs: int = 0
    prefill_ctx: float = 0.0  # token-weighted mean of tokens cached before each chunk
    chunks: list[tuple[Request, int]] = field(default_factory=list)  # (request, tokens)


@dataclass
class StepLog:
    """What a replica did, one row per step or per run of identical decode steps."""

    start_s: list[float] = field(default_factory=list)
    duration_s: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    decode_seqs: list[int] = field(default_factory=list)
    prefill_tokens: list[int] = field(default_factory=list)
    kv_used: list[float] = field(default_factory=list)  # fraction of KV capacity at the start
    paused: list[int] = field(default_factory=list)  # decoding sequences a prompt step held back

    def add(self, start: float, dur: float, steps: int, b: int, p: int, kv: float,
            paused: int = 0) -> None:
        self.start_s.append(start)
        self.duration_s.append(dur)
        self.steps.append(steps)
        self.decode_seqs.append(b)
        self.prefill_tokens.append(p)
        self.kv_used.append(kv)
        self.paused.append(paused)


class TimeAverage:
    """Integral over time of a count that changes at events (for time averages)."""

    __slots__ = ("n", "area", "t", "peak")

    def __init__(self) -> None:
        self.n = 0
        self.area = 0.0
        self.t = 0.0
        self.peak = 0

    def change(self, t: float, delta: int) -> None:
        if t > self.t:
            self.area += self.n * (t - self.t)
            self.t = t
        self.n += delta
        if self.n > self.peak:
            self.peak = self.n

