"""``<run>/real_reference.json``: the real-vs-real level of FID, precision, recall, density, coverage and distinct_nn.

The metrics callback writes it once per run (:class:`igan.metrics.callback.Metrics`); reports read
it back beside metrics.csv, without W&B. These scores depend on the sample count and on k, so the
file keeps both with the values: ``n`` (and, as older files have it, ``num_each``) is the size of
each of the two disjoint real sets compared. Reading it imports neither torch nor Inception: reports stay
quick to start.
"""

from __future__ import annotations

import json
from pathlib import Path

from igan.io.files import atomic_write

#: The file's name in a run folder.
REFERENCE_FILE = "real_reference.json"


def write_real_reference(path: str | Path, reference: dict[str, float]) -> Path:
    """The reference (the values, ``n`` and ``num_each``) and the k it was computed with, as JSON."""
    from igan.metrics.prdc_scores import DC_NEAREST_K, PR_NEAREST_K

    payload = {**reference, "precision_recall_k": PR_NEAREST_K, "density_coverage_k": DC_NEAREST_K}
    return atomic_write(path, json.dumps(payload, indent=2) + "\n")


def read_real_reference(run_dir: str | Path) -> dict[str, float]:
    """The numbers stored in ``<run_dir>/real_reference.json``; {} when the run has none.

    The scores, ``n`` (``num_each`` in older files) and the k's, at the top level or under a "metrics" key. A file
    that is not JSON raises ValueError naming it.
    """
    path = Path(run_dir) / REFERENCE_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not readable JSON") from err
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
