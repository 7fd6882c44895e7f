"""Workloads: when requests arrive and how long their prompts and outputs are.

A :class:`Workload` is data (pydantic, ``extra="forbid"``): an arrival process, two length
distributions and an optional shared prefix. :func:`generate` turns it into request arrays for a
seed, deterministically. Closed-loop workloads (N users with think time) only fix the lengths
here; their arrival times depend on completions and are made by the cluster
(:mod:`inferplan.sim.cluster`).

What does not live here: the event loop, scheduling, metrics.

Presets (``PRESETS``; parameters chosen to resemble public traces, stated per preset):

=============== ============================ ============================ =====================
preset          prompt tokens                output tokens                other
=============== ============================ ============================ =====================
chat            lognormal median 512, σ 1.0  lognormal median 256, σ 0.8  Poisson 1 req/s
rag             lognormal median 4000, σ 0.4 lognormal median 200, σ 0.6  Poisson 1 req/s
code            lognormal median 1500, σ 0.7 lognormal median 48, σ 0.8   Poisson 1 req/s
summarization   lognormal median 3000, σ 0.5 lognormal median 300, σ 0.4  Poisson 1 req/s
agentic         lognormal median 6000, σ 0.5 lognormal median 300, σ 0.7  3000-token prefix
                                                                          shared by 16 agents
=============== ============================ ============================ =====================

Chat follows the ShareGPT shape (long-tailed prompts and answers of a few hundred tokens, as
used by vLLM's serving benchmark); RAG prompts carry retrieved context (Splitwise's
"conversation" vs "coding" traces, Patel et al. 2024, motivate long-prompt/short-output code);
agentic requests repeat a system prompt and tool schema (the prefix), which prefix caching
reuses. Lengths are clipped to [16, 32768] prompt and [1, 4096] output tokens.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferplan.errors import InputError, validation_summary

_NORMAL = NormalDist()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LengthDist(_Strict):
    """Token counts: fixed, uniform [low, high], lognormal (median, sigma) clipped to
    [low, high], or empirical (resampled from `values` or from a file's numbers)."""

    kind: Literal["fixed", "uniform", "lognormal", "empirical"] = "fixed"
    value: int | None = Field(default=None, ge=0)
    low: int = Field(default=1, ge=0)
    high: int = Field(default=32768, ge=0)
    median: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    sigma: float = Field(default=1.0, ge=0, allow_inf_nan=False)
    values: list[int] | None = None
    path: str | None = None

    @model_validator(mode="after")
    def _check(self) -> LengthDist:
        if self.kind == "fixed" and self.value is None:
            raise ValueError("a fixed length needs `value`")
        if self.kind == "lognormal" and self.median is None:
            raise ValueError("a lognormal length needs `median`")
        if self.kind == "empirical" and not self.values and not self.path:
            raise ValueError("an empirical length needs `values` or `path`")
        if self.low > self.high:
            raise ValueError("low must be <= high")
        return self

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.value, dtype=np.int64)
        if self.kind == "uniform":
            return rng.integers(self.low, self.high + 1, size=n)
        if self.kind == "lognormal":
            x = rng.lognormal(math.log(self.median or 1.0), self.sigma, size=n)
            return np.clip(np.rint(x), self.low, self.high).astype(np.int64)
        vals = np.asarray(self.values if self.values else read_numbers(Path(self.path or "")))
        return rng.choice(vals, size=n).astype(np.int64)

    def smallest(self) -> int:
        """The smallest length this distribution can draw."""
        if self.kind == "fixed":
            return int(self.value or 0)
        if self.kind in ("uniform", "lognormal"):
            return self.low
        return int(min(self.values if self.values else read_numbers(Path(self.path or ""))))

    def mean(self) -> float:
        """Expected value (lognormal: of the clipped distribution, by quadrature)."""
        if self.kind == "fixed":
            return float(self.value or 0)
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        if self.kind == "lognormal":
            return float(np.mean(self._lognormal_grid()))
        return float(np.mean(self.values if self.values else read_numbers(Path(self.path or ""))))

    def quantile(self, q: float) -> float:
        if self.kind == "fixed":
            return float(self.value or 0)
        if self.kind == "uniform":
            return self.low + q * (self.high - self.low)
        if self.kind == "lognormal":
            return float(np.quantile(self._lognormal_grid(), q))
        return float(np.quantile(self.values if self.values else read_numbers(Path(self.path or "")), q))

    def _lognormal_grid(self) -> np.ndarray:
        return _lognormal_grid(self.median or 1.0, self.sigma, self.low, self.high)


@lru_cache(maxsize=256)
def _lognormal_grid(median: float, sigma: float, low: int, high: int) -> np.ndarray:
    """Deterministic quantile grid of a clipped lognormal (means and quantiles, no sampling)."""
    z = np.array([_NORMAL.inv_cdf((i + 0.5) / 2000) for i in range(2000)])
    x = np.exp(math.log(median) + sigma * z)
    out = np.clip(np.rint(x), low, high)
    out.flags.writeable = False
    return out


class Arrivals(_Strict):
    """poisson(rate), gamma(rate, cv: 1 = Poisson, >1 bursty), closed(users, think_time_s,
    exponential think times) or trace (arrival times from the trace file)."""

    kind: Literal["poisson", "gamma", "closed", "trace"] = "poisson"
    rate: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="requests/s (open loop)")
    cv: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False,
                      description="coefficient of variation of gaps (gamma; the --cv flag's range)")
    users: int | None = Field(default=None, ge=1, description="closed loop: concurrent users")
    think_time_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> Arrivals:
        if self.kind in ("poisson", "gamma") and self.rate is None:
            raise ValueError(f"{self.kind} arrivals need `rate`")
        if self.kind == "closed" and self.users is None:
            raise ValueError("closed-loop arrivals need `users`")
        return self


class Prefix(_Strict):
    """Shared prompt prefixes: each request starts with the prefix of one of `groups` groups
    (system prompt, tool schema, earlier turns) of `tokens` tokens, with probability `share`."""

    tokens: int = Field(ge=1)
    groups: int = Field(default=1, ge=1)
    share: float = Field(default=1.0, ge=0, le=1, allow_inf_nan=False)


class Workload(_Strict):
    name: str = "custom"
    arrivals: Arrivals
    input: LengthDist
    output: LengthDist
    prefix: Prefix | None = None
    trace: str | None = Field(default=None, description="CSV/JSONL of arrival_s, input_tokens, output_tokens")
    description: str = ""

    @model_validator(mode="after")
    def _check_lengths(self) -> Workload:
        # a served request has a prompt (at least one token) and produces a first token
        for what, dist in (("input", self.input), ("output", self.output)):
            if self.trace is None and dist.smallest() < 1:
                raise ValueError(f"{what} lengths must be >= 1 token (this one can draw {dist.smallest()})")
        return self

    def mean_input(self) -> float:
        return self.input.mean()

    def mean_output(self) -> float:
        return self.output.mean()


@dataclass
class RequestArrays:
    """Requests of one run, in arrival order (closed loop: arrival_s is NaN until issued)."""

    arrival_s: np.ndarray  # float64
    input_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    prefix_id: np.ndarray  # int64, -1 = no shared prefix
    prefix_tokens: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.input_tokens)


def _lognormal(median: int, sigma: float, low: int, high: int) -> LengthDist:
    return LengthDist(kind="lognormal", median=median, sigma=sigma, low=low, high=high)


PRESETS: dict[str, Workload] = {
    "chat": Workload(
        name="chat", arrivals=Arrivals(kind="poisson", rate=1.0),
        input=_lognormal(512, 1.0, 16, 32768), output=_lognormal(256, 0.8, 1, 4096),
        description="chat (ShareGPT-like): long-tailed prompts and answers"),
    "rag": Workload(
        name="rag", arrivals=Arrivals(kind="poisson", rate=1.0),
        input=_lognormal(4000, 0.4, 16, 32768), output=_lognormal(200, 0.6, 1, 4096),
        description="retrieval-augmented generation: long prompts with retrieved context"),
    "code": Workload(
        name="code", arrivals=Arrivals(kind="poisson", rate=1.0),
        input=_lognormal(1500, 0.7, 16, 32768), output=_lognormal(48, 0.8, 1, 4096),
        description="code completion: file context in, a few lines out"),
    "summarization": Workload(
        name="summarization", arrivals=Arrivals(kind="poisson", rate=1.0),
        input=_lognormal(3000, 0.5, 16, 32768), output=_lognormal(300, 0.4, 1, 4096),
        description="batch summarization of documents"),
    "agentic": Workload(
        name="agentic", arrivals=Arrivals(kind="poisson", rate=1.0),
        input=_lognormal(6000, 0.5, 3016, 32768), output=_lognormal(300, 0.7, 1, 4096),
        prefix=Prefix(tokens=3000, groups=16, share=1.0),
        description="agentic multi-turn: a 3000-token system prompt + tools shared per agent"),
}


def get_workload(name: str) -> Workload:
    from inferplan.errors import UnknownIdError

    if name not in PRESETS:
        raise UnknownIdError("workload", name, PRESETS, hint="or give a workload file (YAML/JSON)")
    return PRESETS[name].model_copy(deep=True)


def load_workload(spec: str | Path) -> Workload:
    """A preset name, a workload YAML/JSON file, or a trace (.csv/.jsonl) to replay."""
    p = Path(spec)
    if str(spec) in PRESETS:
        return get_workload(str(spec))
    if p.suffix in (".csv", ".jsonl") and p.exists():
        return trace_workload(p)
    if p.suffix in (".csv", ".jsonl", ".yaml", ".yml", ".json") and not p.exists():
        raise InputError(f"workload file {p} does not exist (or name a preset: {', '.join(PRESETS)})")
    if p.suffix in (".yaml", ".yml", ".json") and p.exists():
        import yaml

        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
            return Workload.model_validate(raw)
        except ValidationError as e:  # name the field and the reason
            raise InputError(f"{p}: not a valid workload: {validation_summary(e)}") from None
        except Exception as e:  # YAML or read error: name the file
            raise InputError(f"{p}: not a valid workload ({_why(e)})") from None
    return get_workload(str(spec))


def with_overrides(w: Workload, *, rate: float | None = None, cv: float | None = None,
                   users: int | None = None, think_time_s: float | None = None,
                   input_len: int | None = None, output_len: int | None = None) -> Workload:
    """A copy with the arrival process or lengths replaced (CLI flags). On a trace, a rate or
    users keep the trace's lengths (empirical) but not its arrival times. Out-of-range values
    raise InputError naming the flag."""
    from pydantic import ValidationError

    if rate is not None and users is not None:
        raise InputError("--rate (open-loop arrivals) and --users (closed-loop clients) contradict "
                         "each other: give one")
    if cv is not None and (users is not None or (rate is None and w.arrivals.kind == "closed")):
        raise InputError("--cv shapes open-loop arrivals (the gaps between requests): closed-loop "
                         "clients (--users) send when their last answer arrives")
    if think_time_s is not None and (rate is not None or (users is None and w.arrivals.kind != "closed")):
        raise InputError("--think-time is the pause of closed-loop clients between requests: it "
                         "needs --users (or a closed-loop workload), not open-loop --rate arrivals")
    try:
        return _with_overrides(w, rate=rate, cv=cv, users=users, think_time_s=think_time_s,
                               input_len=input_len, output_len=output_len)
    except ValidationError as e:
        msgs = "; ".join((f"--{str(err['loc'][-1]).replace('_', '-')}: " if err["loc"] else "")
                         + err["msg"].removeprefix("Value error, ") for err in e.errors())
        raise InputError(msgs) from None


def _with_overrides(w: Workload, *, rate: float | None, cv: float | None, users: int | None,
                    think_time_s: float | None, input_len: int | None,
                    output_len: int | None) -> Workload:
    w = w.model_copy(deep=True)
    a = w.arrivals
    if users is not None:  # a closed-loop workload keeps its think time unless one is given
        kept = a.think_time_s if a.kind == "closed" else 0.0
        a = Arrivals(kind="closed", users=users, think_time_s=kept if think_time_s is None else think_time_s)
    elif rate is not None:
        a = Arrivals(kind="gamma" if (cv or a.cv) != 1.0 else "poisson", rate=rate, cv=cv or a.cv)
    elif cv is not None and a.kind in ("poisson", "gamma"):
        a = Arrivals(kind="gamma" if cv != 1.0 else "poisson", rate=a.rate, cv=cv)
    elif think_time_s is not None and a.kind == "closed":
        a = Arrivals(kind="closed", users=a.users, think_time_s=think_time_s)
    w.arrivals = a
    if input_len is not None:
        w.input = LengthDist(kind="fixed", value=input_len)
        if w.prefix and w.prefix.tokens >= input_len:
            w.prefix = None
    if output_len is not None:
        w.output = LengthDist(kind="fixed", value=output_len)
    if w.trace and (rate is not None or users is not None):
        w.trace = None  # the trace's lengths (empirical), arriving as asked instead
    return Workload.model_validate(w.model_dump())  # the replaced parts checked together


# --------------------------------------------------------------------------------------------
# generation


def generate(w: Workload, n: int, seed: int = 0) -> RequestArrays:
    """`n` requests of workload `w`; identical for identical (w, n, seed)."""
    if n < 1:
        raise InputError("the number of requests must be >= 1")
    if w.trace:
        return _from_trace(Path(w.trace), n, w)
    rng = np.random.default_rng(seed)
    a = w.arrivals
    if a.kind == "poisson":
        gaps = rng.exponential(1 / (a.rate or 1.0), size=n)
    elif a.kind == "gamma":
        shape = 1 / (a.cv * a.cv)  # CV of a gamma = 1/sqrt(shape)
        gaps = rng.gamma(shape, 1 / ((a.rate or 1.0) * shape), size=n)
    elif a.kind == "closed":
        gaps = np.full(n, np.nan)
    else:
        raise InputError("trace arrivals need a trace file (Workload.trace)")
    arrival = np.cumsum(gaps) - gaps[0] if a.kind != "closed" else gaps
    inp = w.input.sample(rng, n)
    out = np.maximum(w.output.sample(rng, n), 1)
    pid = np.full(n, -1, dtype=np.int64)
    ptok = np.zeros(n, dtype=np.int64)
    if w.prefix:
        has = rng.random(n) < w.prefix.share
        grp = rng.integers(0, w.prefix.groups, size=n)
        pid = np.where(has, grp, -1)
        inp = np.where(has, np.maximum(inp, w.prefix.tokens + 1), inp)
        ptok = np.where(has, w.prefix.tokens, 0)
    return RequestArrays(arrival.astype(float), inp.astype(np.int64), out.astype(np.int64),
                         pid.astype(np.int64), ptok.astype(np.int64))


def think_times(w: Workload, n: int, seed: int) -> np.ndarray:
    """Think times of a closed-loop workload (exponential with the given mean; 0 if none)."""
    t = w.arrivals.think_time_s
    if t <= 0:
        return np.zeros(n)
    return np.random.default_rng(seed + 7919).exponential(t, size=n)


# --------------------------------------------------------------------------------------------
# traces and empirical lengths

_ARRIVAL_KEYS = ("arrival_s", "arrival_time", "timestamp", "time_s", "t")
_INPUT_KEYS = ("input_tokens", "input_len", "prompt_tokens", "context_tokens", "input")
_OUTPUT_KEYS = ("output_tokens", "output_len", "completion_tokens", "generated_tokens", "output")


def _why(e: BaseException) -> str:
    """A read or parse error in a few words."""
    if isinstance(e, UnicodeDecodeError):
        return "not a UTF-8 text file"
    if isinstance(e, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(e, OSError):
        return e.strerror or type(e).__name__
    return (str(e).splitlines() or [type(e).__name__])[0][:200]


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise InputError(f"no such file: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Excel's CSVs) is not a column name
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the trace: {_why(e)}") from None
    if path.suffix == ".jsonl":
        out = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{i}: not JSON ({e.msg})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}:{i}: expected a JSON object per line")
                out.append(obj)
        return out
    return list(csv.DictReader(text.splitlines()))


def _pick(row: dict[str, str], keys: tuple[str, ...], path: Path, i: int, what: str) -> float:
    for k in keys:
        if k in row and row[k] not in ("", None):
            try:
                v = float(row[k])
            except (ValueError, TypeError):
                v = math.nan
            if not math.isfinite(v) or v < 0:
                raise InputError(f"{path}: row {i}: {k}={str(row[k])[:40]!r} is not a finite number >= 0") from None
            return v
    raise InputError(f"{path}: row {i} has no {what} column (one of {', '.join(keys)})")


def trace_workload(path: Path) -> Workload:
    """A workload that replays `path` (arrival times and lengths from the file)."""
    rows = _rows(path)
    if not rows:
        raise InputError(f"{path}: empty trace")
    ins = _prompt_lengths(rows, path)
    outs = [max(1, int(_pick(r, _OUTPUT_KEYS, path, i, "output tokens"))) for i, r in enumerate(rows, 1)]
    return Workload(name=f"trace:{path.name}", arrivals=Arrivals(kind="trace"),
                    input=LengthDist(kind="empirical", values=ins),
                    output=LengthDist(kind="empirical", values=outs), trace=str(path),
                    description=f"replay of {path} ({len(rows)} requests)")


def _prompt_lengths(rows: list[dict[str, str]], path: Path) -> list[int]:
    """Each row's prompt tokens; a row without a prompt is refused (a served request has one;
    an output of 0 tokens is read as 1, the first token)."""
    ins = [int(_pick(r, _INPUT_KEYS, path, i, "input tokens")) for i, r in enumerate(rows, 1)]
    bad = next((i for i, v in enumerate(ins, 1) if v < 1), None)
    if bad is not None:
        raise InputError(f"{path}: row {bad}: input tokens {ins[bad - 1]} (a request needs >= 1)")
    return ins


def _from_trace(path: Path, n: int, w: Workload) -> RequestArrays:
    rows = _rows(path)[:n]
    t = np.array([_pick(r, _ARRIVAL_KEYS, path, i, "arrival time") for i, r in enumerate(rows, 1)])
    order = np.argsort(t, kind="stable")
    t = t[order] - t.min()
    ins = np.array(_prompt_lengths(rows, path))[order]
    outs = np.array([max(1, int(_pick(r, _OUTPUT_KEYS, path, i, "output tokens"))) for i, r in enumerate(rows, 1)])[order]
    k = len(rows)
    return RequestArrays(t.astype(float), ins.astype(np.int64), outs.astype(np.int64),
                         np.full(k, -1, dtype=np.int64), np.zeros(k, dtype=np.int64))


def read_numbers(path: Path) -> list[int]:
    """Token counts from a file: one number per line, or a CSV/JSONL column named like
    input/output tokens (the first numeric column otherwise)."""
    if not path.exists():
        raise InputError(f"no such file: {path}")
    if path.suffix in (".csv", ".jsonl"):
        rows = _rows(path)
        if not rows:
            raise InputError(f"{path}: no rows")
        for keys in (_INPUT_KEYS, _OUTPUT_KEYS):
            if any(k in rows[0] for k in keys):
                return [int(_pick(r, keys, path, i, "token count")) for i, r in enumerate(rows, 1)]
        key = next(iter(rows[0]))
        return [int(_pick(r, (key,), path, i, "token count")) for i, r in enumerate(rows, 1)]
    out = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read the token counts: {_why(e)}") from None
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(int(float(line)))
            except (ValueError, OverflowError):
                raise InputError(f"{path}:{i}: {line.strip()[:40]!r} is not a finite number") from None
    if not out:
        raise InputError(f"{path}: no numbers")
    return out
