"""Wall time of `inferplan compare --all` (start-up included) and of the library call alone.

    python benchmarks/speed.py > benchmarks/results/speed.md
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time


def wall_s(cmd: list[str], n: int = 7) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    exe = [sys.executable, "-m", "inferplan"]
    cli = wall_s(exe + ["compare", "--model", "llama-3.1-70b", "--all"])
    cli_json = wall_s(exe + ["compare", "--model", "llama-3.1-70b", "--all", "--json"])
    start = wall_s([sys.executable, "-c", "import inferplan.cli.main"])

    from inferplan.compare import compare

    compare("llama-3.1-70b")  # warm caches (catalog parsing)
    lib = []
    for _ in range(20):
        t = time.perf_counter()
        res = compare("llama-3.1-70b")
        lib.append(time.perf_counter() - t)
    print(f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"{len(res.rows)} hardware entries.\n")
    print("| what | median | min |")
    print("|---|---|---|")
    for name, xs in (("`inferplan compare --model llama-3.1-70b --all` (process wall time)", cli),
                     ("same with `--json`", cli_json), ("interpreter + CLI import only", start),
                     ("library `compare()` call, warm", lib)):
        print(f"| {name} | {statistics.median(xs) * 1e3:.0f} ms | {min(xs) * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()
