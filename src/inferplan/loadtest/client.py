"""An OpenAI-compatible streaming load generator (httpx + asyncio).

It replays a :class:`~inferplan.sim.workload.Workload` against one endpoint: open loop (arrival
times from the workload) or closed loop (N users, each sending its next request when the
previous one finished plus a think time). Every request asks ``/v1/completions`` for exactly its
output length (``max_tokens`` = ``min_tokens`` = O, streamed) and records when it was sent, when
each token arrived and when it ended.

Only the given endpoint is contacted: one ``httpx.AsyncClient`` bound to that base URL, no
redirects followed, no proxy settings from the environment. Runs are bounded in requests and in
wall time; a request past the deadline is cancelled and recorded as such.

Prompts of a given token length are made from words whose token count is measured once on the
endpoint (``usage.prompt_tokens`` of two non-streamed probes), each prompt starting with its
request number so no two prompts share a prefix (engines that reuse a cached prefix would
otherwise skip prefill).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from urllib.parse import urlparse

import numpy as np
from pydantic import BaseModel

from inferplan.errors import InputError
from inferplan.sim.workload import Workload, generate, think_times

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class RequestRecord(BaseModel):
    """One request as the client saw it; times in seconds from the start of the run."""

    id: int
    user: int = -1
    input_tokens: int  # asked for (prompt built to this length)
    output_tokens: int  # asked for
    prompt_tokens: int | None = None  # what the server counted, when it says
    sent_s: float
    first_token_s: float | None = None
    done_s: float | None = None
    token_s: list[float] = []  # arrival time of each streamed chunk with text
    chunks: int = 0
    completion_tokens: int | None = None  # what the server counted (usage), when it says
    finish_reason: str | None = None
    error: str | None = None

    @property
    def received_tokens(self) -> int:
        """Output tokens the request really got: the server's count (usage), else all that were
        asked when it stopped at the length limit, else one per streamed text chunk (a lower
        bound where a server packs several tokens per chunk)."""
        if self.completion_tokens is not None:
            return self.completion_tokens
        if self.finish_reason == "length":
            return self.output_tokens
        return max(self.chunks, 1)


class LoadtestRun(BaseModel):
    endpoint: str
    model_name: str
    workload: str
    arrivals: str
    requests_sent: int
    duration_s: float
    tokens_per_word: float
    prompt_overhead_tokens: float
    records: list[RequestRecord]


def check_endpoint(endpoint: str, local_only: bool = False) -> str:
    """Normalized base URL (no trailing slash, no OpenAI route: ``.../v1/completions`` and
    ``.../v1`` name the same server); with local_only, only this machine is allowed."""
    bad = f"endpoint must be an http(s) URL like http://127.0.0.1:8000, not {endpoint[:200]!r}"
    try:
        u = urlparse(endpoint)
        port = u.port  # parses the port: ValueError when it is not a number in 0-65535
    except ValueError:
        raise InputError(bad) from None
    if u.scheme not in ("http", "https") or not u.hostname or port == 0:
        raise InputError(bad)
    if local_only and u.hostname not in LOCAL_HOSTS:
        raise InputError(f"endpoint {endpoint} is not on this machine (local_only)")
    base = endpoint.rstrip("/")
    for route in ("/v1/completions", "/v1/chat/completions", "/v1"):
        if base.endswith(route):
            return base[: -len(route)]
    return base


class Prompter:
    """Makes prompts of a target token count from words of a measured token cost."""

    def __init__(self, tokens_per_word: float, overhead: float) -> None:
        self.tokens_per_word = max(tokens_per_word, 1e-3)
        self.overhead = overhead

    def prompt(self, req_id: int, tokens: int, rng: np.random.Generator) -> str:
        n = max(1, round((tokens - self.overhead) / self.tokens_per_word))
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=n)]
        return f"{req_id} " + " ".join(words[1:]) if n > 1 else str(req_id)


async def _prompt_tokens(client, model: str, prompt: str) -> int | None:
    """Prompt tokens the server counts; InputError when it cannot be reached or does not
    answer as an OpenAI-compatible server (the first request of a load test)."""
    import httpx

    where = str(client.base_url).rstrip("/") + "/v1/completions"
    try:
        r = await client.post("/v1/completions", json={"model": model, "prompt": prompt,
                                                        "max_tokens": 1, "temperature": 0})
    except httpx.TransportError as e:
        raise InputError(f"cannot reach {where}: {str(e).strip() or type(e).__name__} (is the "
                         "server running?)") from None
    if r.status_code >= 400:
        raise InputError(f"{where} answered HTTP {r.status_code}: not an OpenAI-compatible server, "
                         "or --served-model names no model it serves") from None
    try:
        body = r.json()
    except ValueError:
        raise InputError(f"{where} did not answer JSON: not an OpenAI-compatible server") from None
    if not isinstance(body, dict):
        raise InputError(f"{where} answered {type(body).__name__}, not an OpenAI completion object")
    usage = body.get("usage")
    return _count(usage.get("prompt_tokens")) if isinstance(usage, dict) else None


def _count(v: object) -> int | None:
    """A token count a server reported (``usage``), or None when it is not a non-negative integer."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


async def calibrate_prompts(client, model: str) -> Prompter:
    """Token cost of a word (slope) and of the prompt's fixed part (intercept), from two probes."""
    rng = np.random.default_rng(0)
    probe = Prompter(1.0, 0.0)
    a = await _prompt_tokens(client, model, probe.prompt(10**6, 40, rng))
    b = await _prompt_tokens(client, model, probe.prompt(10**6 + 1, 120, rng))
    if not a or not b or b <= a:
        return Prompter(1.3, 1.0)  # no usage reported: ~1.3 tokens per English word (BPE)
    per_word = (b - a) / 80
    return Prompter(per_word, a - per_word * 40)


async def _stream(client, model: str, rec: RequestRecord, prompt: str, t0: float) -> None:
    payload = {"model": model, "prompt": prompt, "max_tokens": rec.output_tokens,
               "min_tokens": rec.output_tokens, "temperature": 0, "stream": True,
               "stream_options": {"include_usage": True}}  # the server's token counts, where it has them
    try:
        async with client.stream("POST", "/v1/completions", json=payload) as resp:
            if resp.status_code >= 400:
                body = (await resp.aread()).decode(errors="replace")[:200]
                rec.error = f"HTTP {resp.status_code}: {body}"
                return
            done = False
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                try:
                    obj = json.loads(data)
                except json.JSONDecodeError:
                    continue
                if not isinstance(obj, dict):
                    rec.error = f"malformed stream chunk (not a JSON object): {data[:80]}"
                    return
                now = time.perf_counter() - t0
                choices = obj.get("choices")
                ch = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
                if ch.get("text"):
                    if rec.first_token_s is None:
                        rec.first_token_s = now
                    rec.token_s.append(now)
                    rec.chunks += 1
                if ch.get("finish_reason"):
                    rec.finish_reason = str(ch["finish_reason"])
                u = obj.get("usage")
                usage: dict = u if isinstance(u, dict) else {}
                rec.prompt_tokens = _count(usage.get("prompt_tokens")) or rec.prompt_tokens
                rec.completion_tokens = _count(usage.get("completion_tokens")) or rec.completion_tokens
        rec.done_s = time.perf_counter() - t0
        if rec.first_token_s is None:
            rec.error = "the stream carried no text (HTTP 200 without tokens)"
        elif not done and rec.finish_reason is None:
            rec.error = (f"the stream ended after {rec.chunks} chunk(s) without [DONE] or a "
                         "finish_reason (connection closed?)")
    except asyncio.CancelledError:
        rec.error = "cancelled at the time limit"
        raise
    except Exception as e:  # network errors are data here: record and go on
        rec.error = f"{type(e).__name__}: {e}"


async def run_async(endpoint: str, workload: Workload, *, requests: int, max_duration_s: float,
                    model_name: str = "default", seed: int = 0, request_timeout_s: float = 600.0,
                    local_only: bool = False) -> LoadtestRun:
    import httpx

    base = check_endpoint(endpoint, local_only)
    if requests < 1 or max_duration_s <= 0:
        raise InputError("requests must be >= 1 and the time limit > 0")
    reqs = generate(workload, requests, seed)
    closed = workload.arrivals.kind == "closed"
    thinks = think_times(workload, requests, seed) if closed else None
    rng = np.random.default_rng(seed + 1)
    records: list[RequestRecord] = []
    limits = httpx.Limits(max_connections=1024, max_keepalive_connections=1024)
    timeout = httpx.Timeout(request_timeout_s, connect=10.0)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits, trust_env=False,
                                 follow_redirects=False) as client:
        try:  # the probes answer within the run's time limit, or the server is not serving
            prompter = await asyncio.wait_for(calibrate_prompts(client, model_name), max_duration_s)
        except TimeoutError:
            raise InputError(f"{base} did not answer the prompt-length probe within the "
                             f"{max_duration_s:g} s time limit (--duration)") from None
        t0 = time.perf_counter()
        deadline = t0 + max_duration_s

        def new_record(i: int, user: int) -> tuple[RequestRecord, str]:
            rec = RequestRecord(id=i, user=user, input_tokens=int(reqs.input_tokens[i]),
                                output_tokens=int(reqs.output_tokens[i]),
                                sent_s=time.perf_counter() - t0)
            records.append(rec)
            return rec, prompter.prompt(i, rec.input_tokens, rng)

        async def bounded(rec: RequestRecord, prompt: str) -> None:
            left = deadline - time.perf_counter()
            try:
                await asyncio.wait_for(_stream(client, model_name, rec, prompt, t0), max(left, 0.001))
            except (TimeoutError, asyncio.CancelledError):
                rec.error = rec.error or "cancelled at the time limit"

        if closed:
            counter = iter(range(requests))
            lock = asyncio.Lock()

            async def user(u: int) -> None:
                while time.perf_counter() < deadline:
                    async with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    rec, prompt = new_record(i, u)
                    await bounded(rec, prompt)
                    if thinks is not None and thinks[i] > 0:
                        await asyncio.sleep(min(thinks[i], max(0.0, deadline - time.perf_counter())))

            await asyncio.gather(*(user(u) for u in range(workload.arrivals.users or 1)))
        else:
            tasks = []
            for i in range(requests):
                at = t0 + float(reqs.arrival_s[i])
                if at >= deadline:
                    break
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                rec, prompt = new_record(i, -1)
                tasks.append(asyncio.create_task(bounded(rec, prompt)))
            await asyncio.gather(*tasks)
        duration = time.perf_counter() - t0
    records.sort(key=lambda r: r.id)
    a = workload.arrivals
    how = (f"closed loop, {a.users} users, think {a.think_time_s:g} s" if closed
           else f"{a.kind} {a.rate:g} req/s" if a.rate else a.kind)
    return LoadtestRun(endpoint=base, model_name=model_name, workload=workload.name, arrivals=how,
                       requests_sent=len(records), duration_s=duration,
                       tokens_per_word=prompter.tokens_per_word,
                       prompt_overhead_tokens=prompter.overhead, records=records)


def run_loadtest(endpoint: str, workload: Workload, **kwargs) -> LoadtestRun:
    """Synchronous wrapper of :func:`run_async` (same arguments)."""
    return asyncio.run(run_async(endpoint, workload, **kwargs))


def prompt_tokens_of(rec: RequestRecord, run: LoadtestRun) -> int:
    """Prompt tokens the server processed (its count, else the calibrated estimate)."""
    if rec.prompt_tokens:
        return rec.prompt_tokens
    n = max(1, round((rec.input_tokens - run.prompt_overhead_tokens) / run.tokens_per_word))
    return max(1, math.floor(n * run.tokens_per_word + run.prompt_overhead_tokens + 0.5))
