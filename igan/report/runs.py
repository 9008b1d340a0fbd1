"""Reading training runs for the comparison: ``metrics.csv``, ``config.yaml``, grids, and seed groups.

A run directory holds ``metrics.csv`` (one row per evaluated epoch), ``config.yaml`` and, beside
it or elsewhere, the fixed-noise grid PNGs that the rows point to. Runs of one config trained with
several seeds form a :class:`RunGroup`: the comparison reports a group's mean and spread.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
import re
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from igan.errors import IganError
from igan.metrics.real_reference import read_real_reference

#: Columns every metrics.csv has; training writes more (losses, step counts), which are kept too.
REQUIRED_COLUMNS = ("epoch", "train_seconds", "fid", "kid", "kid_std", "grid")
#: Collapse-aware metrics of newer runs (precision/recall k=3, density/coverage k=5); optional.
PRDC_COLUMNS = ("precision", "recall", "density", "coverage")
#: The collapse measure of still newer runs: distinct nearest real neighbours over generated samples; optional.
DISTINCT_NN = "distinct_nn"
#: Numeric columns some runs lack: diversity (unconditional runs only), held-out L1/SSIM (translation runs only).
OPTIONAL_COLUMNS = ("diversity", "l1", "ssim", *PRDC_COLUMNS, DISTINCT_NN)
#: Real-vs-real values a run may store (real_reference.json); ``n``: the size of each real set compared.
REFERENCE_KEYS = ("fid", *PRDC_COLUMNS, DISTINCT_NN, "n")
#: The training log a study writes in each run folder; its last lines say why a run stopped.
TRAIN_LOG = "train.log"
#: The lock file a training holds in its run folder (igan.training.run_folder): pid and host of the holder.
LOCK_FILE = ".lock"
#: Words of the divergence guard's error (igan.training.guards) in a run's log.
DIVERGED_MESSAGE = "training diverged"
GRID_NAME = re.compile(r"^epoch_(\d+)\.png$")
#: ``<label>-s<seed>``: how training (``<data>-<model>-s<seed>``) and igan study name runs.
SEED_SUFFIX = re.compile(r"^(?P<label>.+)-s(?P<seed>\d+)$")


class CompareWarning(UserWarning):
    """Something the comparison worked around (a missing grid): worth a line, not a failure."""


def warn(message: str) -> None:
    warnings.warn(message, CompareWarning, stacklevel=2)


@dataclass
class Run:
    """One training run as read from its directory: metric rows sorted by epoch and its config.

    ``name`` tells the run apart (its directory name, or ``<label> s<seed>`` when labelled);
    ``label`` is the group it belongs to and ``seed`` its training seed (None when unknown).
    """

    name: str
    path: Path
    rows: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    seed: Optional[int] = None
    #: column -> first epoch whose cell was NaN (a diverged metric or loss); parsed as None in ``rows``.
    nan_epochs: dict[str, int] = field(default_factory=dict)

    def row(self, epoch: int) -> Optional[dict[str, Any]]:
        return next((row for row in self.rows if row["epoch"] == epoch), None)

    @property
    def real_reference(self) -> dict[str, float]:
        """Real-vs-real values the run stored (:data:`REFERENCE_KEYS`; ``n`` from ``num_each`` in older
        files); {} when absent or unreadable."""
        try:
            stored = read_real_reference(self.path)
        except ValueError as err:
            warn(f"{err}; the real-vs-real reference is left out")
            return {}
        if "n" not in stored and "num_each" in stored:
            stored["n"] = stored["num_each"]
        reference = {k: stored[k] for k in REFERENCE_KEYS if k in stored}
        return reference if set(reference) - {"n"} else {}

    @property
    def epochs(self) -> list[int]:
        return [row["epoch"] for row in self.rows]

    @property
    def model(self) -> str:
        """Short class name of the generator ("IDCGANGenerator"); a translation run's U-Net with its block
        ("UNet+involution"); "?" without a config."""
        class_path = config_value(self.config, "model.generator.class_path")
        if class_path:
            return str(class_path).rsplit(".", 1)[-1]
        block = config_value(self.config, "model.block")
        return f"UNet+{block}" if config_value(self.config, "task") == "translation" and block else "?"

    @property
    def image_size(self) -> Optional[int]:
        return as_int(config_value(self.config, "data.image_size"))

    @property
    def grid_samples(self) -> Optional[int]:
        """Images per grid (samples.num): tells empty grid slots from samples."""
        return as_int(config_value(self.config, "samples.num"))

    @property
    def budget_epochs(self) -> Optional[int]:
        """The epoch budget (trainer.max_epochs) from the config; None when unknown or unbounded."""
        value = as_int(config_value(self.config, "trainer.max_epochs"))
        return value if value is not None and value > 0 else None

    @property
    def time_bounded(self) -> bool:
        """Whether the run was given a wall-clock budget (trainer.max_time): it may end before max_epochs."""
        return config_value(self.config, "trainer.max_time") not in (None, "", "null")

    @property
    def last_epoch(self) -> Optional[int]:
        return self.rows[-1]["epoch"] if self.rows else None

    @property
    def metric_samples(self) -> Optional[int]:
        """Generated images behind FID/KID (metrics.num_samples)."""
        return as_int(config_value(self.config, "metrics.num_samples"))

    def has(self, column: str) -> bool:
        return any(isinstance(row.get(column), float) for row in self.rows)

    def values(self, column: str) -> list[tuple[dict[str, Any], float]]:
        """(row, value) for the rows where ``column`` was measured, in epoch order."""
        return [(row, row[column]) for row in self.rows if isinstance(row.get(column), float)]


@dataclass
class RunGroup:
    """The runs of one config (or one ``--labels`` name) across seeds, in the order given."""

    label: str
    runs: list[Run]

    @property
    def seeds(self) -> list[Optional[int]]:
        return [run.seed for run in self.runs]

    @property
    def model(self) -> str:
        models = sorted({run.model for run in self.runs})
        return models[0] if len(models) == 1 else "/".join(models)


def config_value(config: dict[str, Any], dotted: str) -> Any:
    """``config["a"]["b"]`` for "a.b", None where any level is missing (configs of older runs)."""
    node: Any = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def as_int(value: Any) -> Optional[int]:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def parse_number(text: str, where: str) -> Optional[float]:
    """Float of a CSV cell; empty (not evaluated) and NaN (a diverged metric) become None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise IganError(f"{where}: not a number: {text!r}") from None
    return None if math.isnan(value) else value


def parse_extra(text: Optional[str]) -> Any:
    """A column this module does not know: a float where it is one, else the text as written."""
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return None if math.isnan(value) else value


def read_metrics(run_dir: Path, nan_epochs: Optional[dict[str, int]] = None) -> list[dict[str, Any]]:
    """The rows of ``run_dir/metrics.csv`` parsed and sorted by epoch; every column is kept.

    The required and optional columns must be numbers (or empty); other columns (losses, counts,
    columns added later) become floats where they are numbers. A resumed run may append an
    epoch twice; the later row wins, as it describes the weights that training continued from.
    Grid paths are resolved against the run directory (absolute paths stay as they are). A NaN
    cell is read as None, like an empty one; ``nan_epochs`` (when given) receives, per column, the
    first epoch that held a NaN, so a diverged run can be told from one that was not evaluated.
    """
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise IganError(f"{run_dir}: no metrics.csv (is this a training run directory?)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise IganError(f"{path}: malformed, missing column(s) {', '.join(missing)}")
        numeric = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in header and c not in ("epoch", "grid")]
        by_epoch: dict[int, dict[str, Any]] = {}
        for line, record in enumerate(reader, start=2):
            where = f"{path}:{line}"
            if any(record.get(c) is None for c in header) or None in record:
                raise IganError(f"{where}: malformed, the row's field count differs from the header's")
            epoch = parse_number(record["epoch"], where)
            if epoch is None or epoch != int(epoch) or epoch < 0:
                raise IganError(f"{where}: epoch must be a non-negative integer, got {record['epoch']!r}")
            row: dict[str, Any] = {c: parse_extra(record[c]) for c in header}
            row["epoch"] = int(epoch)
            row.update({c: parse_number(record[c], f"{where} ({c})") for c in numeric})
            grid = record["grid"].strip()
            # relative to the run directory ("../../samples/<run>/epoch_003.png"); absolute stays absolute
            row["grid"] = Path(os.path.normpath(run_dir / grid)) if grid else None
            by_epoch[int(epoch)] = row
            if nan_epochs is not None:
                for column in header:
                    if record[column].strip().lower() in ("nan", "-nan", "+nan"):
                        nan_epochs[column] = min(nan_epochs.get(column, int(epoch)), int(epoch))
    if not by_epoch:
        raise IganError(f"{path}: no rows")
    return [by_epoch[e] for e in sorted(by_epoch)]


def has_rows(run_dir: Path, config: dict[str, Any]) -> bool:
    """False for a started run that recorded no evaluation (a config but no rows): it is reported as failed.

    A folder with neither metrics.csv rows nor a config is not a run, and reading it raises.
    """
    if not config and not (run_dir / TRAIN_LOG).is_file():
        return True
    path = run_dir / "metrics.csv"
    if not path.is_file():
        return False
    with open(path, newline="") as f:
        return any(line.strip() for line in itertools.islice(f, 1, None))


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's resolved config.yaml, or {} when there is none (the table then shows "?")."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise IganError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    return config if isinstance(config, dict) else {}


def split_seed(name: str) -> tuple[str, Optional[int]]:
    """``"calligraphy-dcgan-s2"`` -> ("calligraphy-dcgan", 2); a name without the suffix stays whole."""
    match = SEED_SUFFIX.match(name)
    return (match["label"], int(match["seed"])) if match else (name, None)


def run_identity(run_dir: Path, config: dict[str, Any], label: Optional[str]) -> tuple[str, str, Optional[int]]:
    """(name, group label, seed) of a run.

    The label is ``label`` (from --labels) when given, else the run's name without its
    ``-s<seed>`` suffix; the name is the config's run_name, else the directory's name. The seed
    comes from that suffix, else from the config's seed_everything.
    """
    dir_name = run_dir.resolve().name
    run_name = config.get("run_name") if isinstance(config.get("run_name"), str) and config.get("run_name") else dir_name
    own_label, seed = split_seed(run_name)
    if seed is None:
        seed = as_int(config.get("seed_everything"))
    if label is None:
        return dir_name, own_label, seed
    return (label if seed is None else f"{label} s{seed}"), label, seed


def load_runs(run_dirs: Sequence[Path], labels: Optional[Sequence[str]] = None) -> list[Run]:
    """Read every run, checking what the user can fix before any file is written.

    Runs sharing a label are seeds of one config; two of them with the same seed (the same run
    given twice, or runs that need telling apart) are refused.
    """
    if not run_dirs:
        raise IganError("no run directories given")
    if labels is not None and len(labels) != len(run_dirs):
        raise IganError(f"{len(labels)} label(s) for {len(run_dirs)} run(s)")
    if labels is not None and any(not label for label in labels):
        raise IganError("--labels has an empty name")
    runs = []
    for index, run_dir in enumerate(map(Path, run_dirs)):
        if not run_dir.is_dir():
            raise IganError(f"{run_dir}: no such run directory")
        config = read_config(run_dir)
        name, label, seed = run_identity(run_dir, config, None if labels is None else labels[index])
        nan_epochs: dict[str, int] = {}
        rows = read_metrics(run_dir, nan_epochs) if has_rows(run_dir, config) else []
        runs.append(Run(name=name, path=run_dir, rows=rows, config=config, label=label, seed=seed,
                        nan_epochs=nan_epochs))
    seen: dict[tuple[str, Any], Run] = {}
    for index, run in enumerate(runs):
        key = (run.label, run.seed if run.seed is not None else f"#{index}")
        if key in seen or any(other.name == run.name for other in seen.values()):
            other = seen.get(key) or next(o for o in seen.values() if o.name == run.name)
            raise IganError(f"runs {other.path} and {run.path} are both {run.name!r} (group {run.label!r}, "
                            f"seed {run.seed}): tell them apart with --labels")
        seen[key] = run
    return runs


def group_runs(runs: Sequence[Run]) -> list[RunGroup]:
    """Runs grouped by label, groups in the order their first run was given (the first is the baseline)."""
    groups: dict[str, RunGroup] = {}
    for run in runs:
        groups.setdefault(run.label, RunGroup(run.label, [])).runs.append(run)
    return list(groups.values())


# --------------------------------------------------------------------------- run status

#: A run's status: finished its budget, diverged (NaN metrics, or stopped by the divergence guard), still
#: running, stopped before its budget for another reason, or never evaluated.
STATUSES = ("finished", "diverged", "running", "unfinished", "failed")
#: Metric and loss columns whose NaN means the run diverged.
DIVERGENCE_COLUMNS = ("fid", "kid", "d_loss", "g_loss", "l1", "ssim")


@dataclass(frozen=True)
class Status:
    """What became of a run, and the words the table and verdict use for it."""

    state: str
    detail: str

    @property
    def analysed(self) -> bool:
        """Whether the run's seed enters the statistics: it ran to its end (a divergence is an end, and a result)."""
        return self.state in ("finished", "diverged")


def lock_holder_alive(run_dir: Path) -> bool:
    """Whether the run folder's lock names a live process on this machine (a training still running).

    Only reads the lock file (no locking, so a training starting now is never disturbed). A lock
    from another host cannot be checked and counts as alive.
    """
    try:
        text = (run_dir / LOCK_FILE).read_text(errors="replace")
    except OSError:
        return False
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    if fields.get("host") and fields["host"] != socket.gethostname():
        return True
    try:
        os.kill(int(fields.get("pid", "")), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def log_says_diverged(run_dir: Path) -> bool:
    try:
        with open(run_dir / TRAIN_LOG, errors="replace") as f:
            tail = f.readlines()[-40:]
    except OSError:
        return False
    return any(DIVERGED_MESSAGE in line for line in tail)


def run_status(run: Run) -> Status:
    """Finished, diverged, running, unfinished or failed, from the rows, the config's budget, the lock and the log."""
    budget = run.budget_epochs
    of_budget = f" of {budget}" if budget else ""
    nan = {c: e for c, e in run.nan_epochs.items() if c in DIVERGENCE_COLUMNS}
    if nan:
        column, epoch = min(nan.items(), key=lambda item: (item[1], item[0]))
        return Status("diverged", f"diverged: {column} is NaN from epoch {epoch}")
    running = lock_holder_alive(run.path)
    if not run.rows:
        return Status("running", "running, no evaluation yet") if running else Status(
            "failed", "failed: no evaluation recorded")
    last = run.last_epoch
    if running:
        return Status("running", f"running, at epoch {last}{of_budget}")
    if budget is not None and last < budget and not run.time_bounded:
        if log_says_diverged(run.path):
            return Status("diverged", f"diverged: training stopped on a NaN or Inf after epoch {last}")
        return Status("unfinished", f"unfinished: stopped at epoch {last}{of_budget}")
    return Status("finished", f"finished at epoch {last}")


# --------------------------------------------------------------------------- grids

def grid_path(run: Run, epoch: int) -> Optional[Path]:
    """The run's grid of ``epoch``: from its CSV row, else the ``epoch_NNN.png`` beside its other grids.

    Grids are written every epoch while metrics.csv may only have rows for evaluated epochs, so
    an epoch without a row can still have a grid next to the recorded ones.
    """
    row = run.row(epoch)
    if row is not None and row["grid"] is not None:
        return row["grid"]
    for other in run.rows:
        if other["grid"] is not None and GRID_NAME.match(other["grid"].name):
            sibling = other["grid"].parent / f"epoch_{epoch:03d}.png"
            return sibling if sibling.is_file() else None
    return None


def load_grid(run: Run, epoch: int, cell_images: Optional[int] = None):
    """The grid image of ``run`` at ``epoch`` (cropped to the first k x k images), None for n/a.

    A recorded grid that is missing or unreadable warns once and becomes n/a; an epoch the run
    simply did not reach is n/a without a warning.
    """
    from PIL import Image, UnidentifiedImageError

    from igan.report.figures import grid_geometry

    path = grid_path(run, epoch)
    if path is None:
        if run.row(epoch) is not None:
            warn(f"{run.name}: no grid recorded for epoch {epoch}; its cell is n/a")
        return None
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB") if opened.mode not in ("L", "RGB") else opened.copy()
    except FileNotFoundError:
        warn(f"{run.name}: grid of epoch {epoch} not found: {path}; its cell is n/a")
        return None
    except (UnidentifiedImageError, OSError) as err:
        warn(f"{run.name}: grid of epoch {epoch} unreadable ({path}: {err}); its cell is n/a")
        return None
    if cell_images:
        geometry = grid_geometry(image.width, image.height, run.image_size)
        if geometry is None:
            warn(f"{run.name}: cannot find the images in {path} ({image.width}x{image.height}); showing it whole")
        else:
            image = image.crop(geometry.crop_box(cell_images))
    return image


def last_grid_saturation(run: Run) -> Optional[float]:
    """Mean HSV saturation of the samples of the run's last recorded grid (padding excluded)."""
    from PIL import Image

    from igan.report.figures import grid_geometry, mean_saturation

    for row in reversed(run.rows):
        if row["grid"] is not None and row["grid"].is_file():
            with Image.open(row["grid"]) as image:
                geometry = grid_geometry(image.width, image.height, run.image_size)
                return mean_saturation(image, geometry, run.grid_samples)
    return None


def is_rgb(run: Run) -> bool:
    """RGB data by the config's data.channels, else by the mode of the run's grid files."""
    channels = as_int(config_value(run.config, "data.channels"))
    if channels is not None:
        return channels == 3
    from PIL import Image

    for row in reversed(run.rows):
        if row["grid"] is not None and row["grid"].is_file():
            with Image.open(row["grid"]) as image:
                return image.mode not in ("L", "LA", "1", "I", "I;16", "F")
    return False
