"""Load test of the HTTP API: N estimate requests at C concurrent connections on 127.0.0.1.

    python benchmarks/web_load.py [--requests 2000] [--concurrency 32] > benchmarks/results/web_load.md

Starts ``uvicorn inferplan.web.app:create_app`` in a subprocess on a free port (one worker
process, as ``inferplan serve`` runs), warms it up, then sends POST /api/estimate requests
from an httpx asyncio client with exactly C connections, cycling through a mix of models,
hardware and modes. Reports errors (non-200 or transport), throughput and latency
percentiles as Markdown. Client and server share the machine, so the numbers include the
client's own CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time

import httpx
import numpy as np

from inferplan.web.local import running_server

MIX = [  # (model, hardware, mode, batch, input_len, output_len)
    ("llama-3.1-8b", "h100-sxm", "batch", 1, 1024, 128),
    ("llama-3.1-70b", "mi300x", "concurrency", 16, 2048, 256),
    ("qwen3-30b-a3b", "b200", "concurrency", 64, 1024, 512),
    ("deepseek-v3", "h200-sxm", "concurrency", 32, 2048, 512),
    ("llama-3.2-1b", "ryzen-9-7950x", "batch", 1, 256, 128),
    ("gpt-oss-120b", "h100-sxm", "offline", 1, 1024, 1024),
    ("gemma-3-27b", "l40s", "batch", 4, 512, 256),
    ("mixtral-8x7b", "a100-sxm-80g", "concurrency", 8, 1024, 256),
]


BASELINE = "/static/style.css"  # a static file: what the HTTP stack alone costs


def _body(i: int) -> dict:
    m, h, mode, b, inp, out = MIX[i % len(MIX)]
    return {"model": m, "hardware": h, "mode": mode, "batch": b, "input_len": inp, "output_len": out}


async def _run(url: str, n: int, conc: int, baseline: bool = False
               ) -> tuple[list[float], list[str], float]:
    lat: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        for i in range(len(MIX)):  # warm-up: catalogs and model configs loaded once
            (await client.post("/api/estimate", json=_body(i))).raise_for_status()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n):
            queue.put_nowait(i)

        async def worker() -> None:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                try:
                    r = await (client.get(BASELINE) if baseline else
                               client.post("/api/estimate", json=_body(i)))
                    if r.status_code != 200:
                        errors.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as e:
                    errors.append(f"{type(e).__name__}: {e}")
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = time.perf_counter() - t0
    return lat, errors, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    with running_server() as url:
        lat, errors, wall = asyncio.run(_run(url, args.requests, args.concurrency))
        base_lat, base_err, base_wall = asyncio.run(_run(url, args.requests, args.concurrency, True))

    def row(what: str, lat: list[float], errors: list[str], wall: float) -> str:
        ms = np.asarray(lat) * 1e3
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        return (f"| {what} | {len(lat)} | {args.concurrency} | {len(errors)} | {wall:.2f} | "
                f"{len(lat) / wall:.0f} | {p50:.1f} | {p90:.1f} | {p99:.1f} | {ms.max():.1f} |")

    print("# Web API load test\n")
    print(f"`python benchmarks/web_load.py --requests {args.requests} --concurrency "
          f"{args.concurrency}`: POST /api/estimate on 127.0.0.1 (uvicorn, one process; "
          f"library calls in 4 worker processes with a deadline), a mix of {len(MIX)} model x hardware x "
          f"mode requests, httpx asyncio client with {args.concurrency} connections on the same "
          f"machine ({os.cpu_count()} CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}).\n")
    print("| request | requests | concurrency | errors | wall (s) | requests/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(row("POST /api/estimate", lat, errors, wall))
    print(row(f"GET {BASELINE} (HTTP stack only)", base_lat, base_err, base_wall))
    if errors:
        print("\nFirst errors:\n")
        for e in errors[:5]:
            print(f"- {e}")
    print("\nLatency is per request as the client sees it, queueing behind the other "
          f"{args.concurrency - 1} connections included. The library call itself takes ~1 ms; the "
          "static-file row shows that the HTTP stack (uvicorn with pure-Python h11, and the client "
          "on the same CPUs) sets most of the cost. `uvicorn[standard]` (httptools, uvloop) is the "
          "first thing to add for more requests/s.")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
