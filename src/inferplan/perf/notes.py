"""Warnings an estimate records in its notes: one ``warning`` line ('; '-joined) for the text
output and the same texts as a list (``WARNINGS_KEY``, ``Estimate.warnings``).

A warning about the plan's own batch (idle replicas, few sequences on attention-DP ranks) is
*batch-scoped*: the simulator builds its pools from a plan at batch 1 or 16 and runs batches of
its own, so it drops those (:func:`drop_batch_scoped`)."""

from __future__ import annotations

from typing import Any

WARNINGS_KEY = "_warnings"  # the same warnings as a list (Estimate.warnings), popped from the notes
BATCH_SCOPED_KEY = "_batch_scoped"  # the texts among them that hold for the plan's batch only


def warn(notes: dict[str, Any], text: str, batch_scoped: bool = False) -> None:
    """Add a warning to an estimate's notes."""
    notes["warning"] = f"{notes['warning']}; {text}" if notes.get("warning") else text
    notes.setdefault(WARNINGS_KEY, []).append(text)
    if batch_scoped:
        notes.setdefault(BATCH_SCOPED_KEY, []).append(text)


def drop_batch_scoped(notes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``notes`` without its batch-scoped warnings (for a pool that runs its own)."""
    scoped = set(notes.get(BATCH_SCOPED_KEY) or ())
    out = {k: v for k, v in notes.items() if k not in ("warning", WARNINGS_KEY, BATCH_SCOPED_KEY)}
    kept = [w for w in notes.get(WARNINGS_KEY) or [] if w not in scoped]
    if kept:
        out[WARNINGS_KEY], out["warning"] = kept, "; ".join(kept)
    return out
