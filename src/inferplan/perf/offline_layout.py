"""Which layout an offline run on given devices, or closed-loop clients on more than one
device, use: the one whose full plan serves the most requests per second under the profile's
priors (docs/model.md, 'Layout'). The candidates come from
:func:`inferplan.perf.placement.offline_layouts`; the estimate plans and times each
(:func:`inferplan.perf.estimate.plan_estimate` with the layout given, under the priors).

For C closed-loop clients the most requests/s is also the shortest end-to-end time (each client
sends its next request when the last one ends: requests/s = C / end-to-end), so the ranking is
the latency one too: 16 clients of a 70B model on 8 GPUs stay at TP8, 2,048 clients of an 8B
model on 8 GPUs run 8 replicas (one TP8 replica admits max_num_seqs of them, the rest queue).
"""

from __future__ import annotations

from collections.abc import Callable

from inferplan.perf.layout import Layout

# A larger replica must promise this much more offline throughput to be preferred over a smaller
# one (the ranking uses the priors, not the fitted profile: near-ties stay with the smaller).
OFFLINE_RATE_MARGIN = 1.05


def fastest_offline(layouts: list[Layout], devices: int,
                    requests_per_s_at_priors: Callable[[Layout], float | None],
                    what: str = "offline") -> tuple[Layout, str] | None:
    """Of an offline run's candidate layouts on its given devices (smallest replicas first), the
    one that serves the most requests per second under the profile's priors, a larger replica
    only where it beats the smaller ones by ``OFFLINE_RATE_MARGIN``; None with fewer than two to
    rank or none that plans. ``requests_per_s_at_priors`` plans a layout in full (its offline
    batch from max_num_seqs and its KV room, its prompt and decode steps: the estimate's
    :func:`inferplan.perf.estimate.plan_estimate` with the layout given) and times it with the
    priors, not the fitted factors, so the choice is the same under every profile (the
    calibration's fast path plans each row once); None where it does not plan. The smallest
    replica that holds one sequence is not the fastest where its KV room starves the batch:
    Llama-3.1-70B FP8 on one H100 keeps ~2 GB of KV. ``what``: the workload, for the note
    ("offline", "2048 clients")."""
    if len(layouts) < 2:
        return None
    best: tuple[Layout, float] | None = None
    for lay in layouts:
        rate = requests_per_s_at_priors(lay)
        if rate and (best is None or rate > best[1] * OFFLINE_RATE_MARGIN):
            best = (lay, rate)
    if best is None:
        return None
    lay = best[0]
    ep = f", ep={lay.ep}" if lay.ep > 1 else ""
    return lay, (f"auto ({devices} devices, {what}: of {len(layouts)} layouts on them, "
                 f"the most requests/s under the profile's priors: tp={lay.tp}, pp={lay.pp}{ep}, dp={lay.dp})")


def auto_layout(mode: str, devices: int | None, rankable: bool, clients: int,
                rule: Callable[[int | None], tuple[Layout, str]],
                candidates: Callable[[int], list[Layout]],
                rate: Callable[[int, Layout], float | None]) -> tuple[Layout, str]:
    """The layout of an estimate that names none: an offline run on given devices ranks the
    layouts there (:func:`fastest_offline`); otherwise the engine's rule (``rule(devices)``:
    placement.choose_layout), after which closed-loop clients on more than one device rank the
    layouts of that device count the same way. ``rankable``: the layouts can be planned and
    compared (no host offload, not an SRAM pipeline); ``candidates(n)``: the layouts on n
    devices; ``rate(n, layout)``: requests/s of the workload there under the priors."""
    if rankable and mode == "offline" and devices:
        found = fastest_offline(candidates(devices), devices, lambda lay: rate(devices, lay))
        if found is not None:
            return found
    layout, how = rule(devices)
    if rankable and mode == "concurrency" and clients > 1 and layout.devices > 1:
        n = layout.devices
        cands = [c for c in candidates(n) if c.dp <= clients]  # a replica without a client idles
        # one replica on all n devices, however split: TP against PP at batch scale, left to the
        # engine's rule (the ranking's cost is spent where replicas are an option)
        found = (fastest_offline(cands, n, lambda lay: rate(n, lay), f"{clients} clients")
                 if any(c.dp > 1 for c in cands) else None)
        if found is not None and found[0] != layout:
            return found[0], found[1] + f"; the engine's rule gave tp={layout.tp}, pp={layout.pp}, dp={layout.dp}"
    return layout, how
