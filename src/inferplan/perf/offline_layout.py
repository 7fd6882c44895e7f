"""Which layout an offline run on given devices uses: the one whose full plan serves the most
requests per second under the profile's priors (docs/model.md, 'Layout'). The candidates come
from :func:`inferplan.perf.placement.offline_layouts`; the estimate plans and times each
(:func:`inferplan.perf.estimate.plan_estimate` with the layout given, under the priors).
"""

from __future__ import annotations

from collections.abc import Callable

from inferplan.perf.layout import Layout

# A larger replica must promise this much more offline throughput to be preferred over a smaller
# one (the ranking uses the priors, not the fitted profile: near-ties stay with the smaller).
OFFLINE_RATE_MARGIN = 1.05


def fastest_offline(layouts: list[Layout], devices: int,
                    requests_per_s_at_priors: Callable[[Layout], float | None]) -> tuple[Layout, str] | None:
    """Of an offline run's candidate layouts on its given devices (smallest replicas first), the
    one that serves the most requests per second under the profile's priors, a larger replica
    only where it beats the smaller ones by ``OFFLINE_RATE_MARGIN``; None with fewer than two to
    rank or none that plans. ``requests_per_s_at_priors`` plans a layout in full (its offline
    batch from max_num_seqs and its KV room, its prompt and decode steps: the estimate's
    :func:`inferplan.perf.estimate.plan_estimate` with the layout given) and times it with the
    priors, not the fitted factors, so the choice is the same under every profile (the
    calibration's fast path plans each row once); None where it does not plan. The smallest
    replica that holds one sequence is not the fastest where its KV room starves the batch:
    Llama-3.1-70B FP8 on one H100 keeps ~2 GB of KV."""
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
    return lay, (f"auto ({devices} devices given, offline: of {len(layouts)} layouts on them, "
                 f"the most requests/s under the profile's priors: tp={lay.tp}, pp={lay.pp}{ep}, dp={lay.dp})")
