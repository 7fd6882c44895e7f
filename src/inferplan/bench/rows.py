"""Measured rows in the canonical calibration CSV schema (``calib.dataset.COLUMNS``).

One helper builds a row with every column filled the way ``shared/calibration/README.md``
defines them (llama-bench conventions: ``pp N`` -> ``prefill_tok_s`` with input_len N and
output_len 0; ``tg N`` -> ``decode_tok_s_per_user`` with input_len 0 and output_len N; CPU
threads as ``threads=N`` in notes); one writes them to a CSV atomically.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from inferplan.calib.dataset import COLUMNS

SOURCE = "inferplan-bench"


def today() -> str:
    return dt.date.today().isoformat()


def measured_row(*, id: str, model_id: str, hardware_id: str, weight_precision: str,
                 kv_precision: str, engine: str, metric: str, value: float,
                 input_len: int, output_len: int, batch: int = 1, mode: str = "batch",
                 num_devices: int = 1, notes: dict[str, object] | None = None,
                 source: str = SOURCE, reliability: str = "A") -> dict[str, str]:
    """One canonical row; ``notes`` become ``key=value`` pairs joined by ``; ``."""
    note = "; ".join(f"{k}={v}" for k, v in (notes or {}).items())
    row = {
        "id": id, "source": source, "model_id": model_id, "hardware_id": hardware_id,
        "num_devices": str(num_devices), "tp": "1", "pp": "1", "ep": "",
        "weight_precision": weight_precision, "kv_precision": kv_precision, "engine": engine,
        "mode": mode, "batch": str(batch), "input_len": str(input_len),
        "output_len": str(output_len), "metric": metric, "value": f"{value:.6g}",
        "reliability": reliability, "notes": note,
    }
    assert set(row) == set(COLUMNS)
    return row


def rows_to_csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in COLUMNS})
    return buf.getvalue()


def write_rows(rows: list[dict[str, str]], path: Path, configs: dict[str, dict] | None = None) -> Path:
    """Write ``rows`` to ``path`` (atomically) and each ``configs[name]`` as JSON beside it.

    ``configs`` maps a file name (the rows' ``model_id``, relative to the CSV's folder, which
    ``validate`` resolves) to the ``config.json`` dict of a model the catalog does not hold.
    """
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, cfg in (configs or {}).items():
        (path.parent / name).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(rows_to_csv(rows), encoding="utf-8")
    tmp.replace(path)
    return path
