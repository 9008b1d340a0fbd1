"""Compare training runs from the files they leave locally: sample montage, FID/KID curves, table.

``python -m igan.compare RUN_DIR... --out DIR [--epochs 0,3,6;0,10,20] [--labels a,b]`` reads each
run's ``metrics.csv`` (one row per evaluated epoch), ``config.yaml`` and fixed-noise grid PNGs and
writes into DIR:

- ``montage.png``: one row per run, one column per chosen epoch, each cell the run's grid;
- ``curves.png``: FID and KID against epoch and against training wall-clock time;
- ``table.md`` (also printed): best/final FID, best KID, diversity, when each run reaches the
  first run's best FID and, for RGB data, the mean saturation of the last grid.

The first run given is the baseline. No W&B is needed; when a W&B run is active the montage,
curves and table are logged to it as well.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from igan.errors import IganError

#: Columns this module reads; training writes more (losses, step counts), which are ignored here.
REQUIRED_COLUMNS = ("epoch", "train_seconds", "fid", "kid", "kid_std", "diversity", "grid")
NUMERIC_COLUMNS = ("train_seconds", "fid", "kid", "kid_std", "diversity")
MONTAGE_COLUMNS = 5
GRID_NAME = re.compile(r"^epoch_(\d+)\.png$")


class CompareWarning(UserWarning):
    """Something the comparison worked around (a missing grid): worth a line, not a failure."""


def warn(message: str) -> None:
    warnings.warn(message, CompareWarning, stacklevel=2)


# --------------------------------------------------------------------------- reading runs

@dataclass
class Run:
    """One training run as read from its directory: metric rows sorted by epoch and its config."""

    name: str
    path: Path
    rows: list[dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)

    def row(self, epoch: int) -> Optional[dict[str, Any]]:
        return next((row for row in self.rows if row["epoch"] == epoch), None)

    @property
    def epochs(self) -> list[int]:
        return [row["epoch"] for row in self.rows]

    @property
    def model(self) -> str:
        """Short class name of the generator ("IDCGANGenerator"), "?" without a config."""
        class_path = config_value(self.config, "model.generator.class_path")
        return str(class_path).rsplit(".", 1)[-1] if class_path else "?"

    @property
    def image_size(self) -> Optional[int]:
        return as_int(config_value(self.config, "data.image_size"))

    @property
    def grid_samples(self) -> Optional[int]:
        """Images per grid (samples.num): tells empty grid slots from samples."""
        return as_int(config_value(self.config, "samples.num"))

    @property
    def metric_samples(self) -> Optional[int]:
        """Generated images behind FID/KID (metrics.num_samples)."""
        return as_int(config_value(self.config, "metrics.num_samples"))

    def values(self, column: str) -> list[tuple[dict[str, Any], float]]:
        """(row, value) for the rows where ``column`` was measured, in epoch order."""
        return [(row, row[column]) for row in self.rows if row[column] is not None]


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
        return int(value) if value is not None else None
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


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir/metrics.csv`` parsed and sorted by epoch.

    A resumed run may append an epoch twice; the later row wins, as it describes the weights that
    training continued from. Grid paths are resolved against the run directory (absolute paths
    stay as they are).
    """
    path = run_dir / "metrics.csv"
    if not path.is_file():
        raise IganError(f"{run_dir}: no metrics.csv (is this a training run directory?)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise IganError(f"{path}: malformed, missing column(s) {', '.join(missing)}")
        by_epoch: dict[int, dict[str, Any]] = {}
        for line, record in enumerate(reader, start=2):
            where = f"{path}:{line}"
            if any(record.get(c) is None for c in REQUIRED_COLUMNS) or None in record:
                raise IganError(f"{where}: malformed, the row's field count differs from the header's")
            epoch = parse_number(record["epoch"], where)
            if epoch is None or epoch != int(epoch) or epoch < 0:
                raise IganError(f"{where}: epoch must be a non-negative integer, got {record['epoch']!r}")
            row: dict[str, Any] = {"epoch": int(epoch)}
            row.update({c: parse_number(record[c], f"{where} ({c})") for c in NUMERIC_COLUMNS})
            grid = record["grid"].strip()
            # relative to the run directory ("../../samples/<run>/epoch_003.png"); absolute stays absolute
            row["grid"] = Path(os.path.normpath(run_dir / grid)) if grid else None
            by_epoch[int(epoch)] = row
    if not by_epoch:
        raise IganError(f"{path}: no rows")
    return [by_epoch[e] for e in sorted(by_epoch)]


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


def load_runs(run_dirs: Sequence[Path], labels: Optional[Sequence[str]] = None) -> list[Run]:
    """Read every run, checking what the user can fix before any file is written."""
    if not run_dirs:
        raise IganError("no run directories given")
    if labels is not None and len(labels) != len(run_dirs):
        raise IganError(f"{len(labels)} label(s) for {len(run_dirs)} run(s)")
    runs = []
    for index, run_dir in enumerate(map(Path, run_dirs)):
        if not run_dir.is_dir():
            raise IganError(f"{run_dir}: no such run directory")
        name = labels[index] if labels is not None else run_dir.resolve().name
        runs.append(Run(name=name, path=run_dir, rows=read_metrics(run_dir), config=read_config(run_dir)))
    names = [run.name for run in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise IganError(f"several runs are named {', '.join(duplicates)}: tell them apart with --labels")
    return runs


# --------------------------------------------------------------------------- choosing epochs

def parse_epochs(text: str, runs: int) -> list[list[int]]:
    """``"0,3,6"`` (the same epochs for every run) or ``"0,3,6;0,10,20"`` (one list per run).

    Per-run lists let the montage put e.g. IDCGAN at 0,3,6 beside DCGAN at 0,10,20.
    """
    groups = [g for g in text.split(";")]
    if len(groups) not in (1, runs):
        raise IganError(f"--epochs has {len(groups)} ';'-separated lists for {runs} run(s): give one, or one per run")
    parsed = []
    for group in groups:
        try:
            epochs = [int(e) for e in group.split(",") if e.strip()]
        except ValueError:
            raise IganError(f"--epochs must be comma-separated integers, got {group!r}") from None
        if not epochs or any(e < 0 for e in epochs):
            raise IganError(f"--epochs must be non-negative integers, got {group!r}")
        parsed.append(epochs)
    return parsed * runs if len(parsed) == 1 else parsed


def evenly_spaced(values: Sequence[int], count: int = MONTAGE_COLUMNS) -> list[int]:
    """Up to ``count`` of ``values``, always the first and the last, the rest spread evenly."""
    if len(values) <= count:
        return list(values)
    picks = {round(i * (len(values) - 1) / (count - 1)) for i in range(count)}
    return [values[i] for i in sorted(picks)]


def default_epochs(runs: Sequence[Run]) -> list[int]:
    """Evenly spaced epochs that every run evaluated (0 and the last common one included).

    When the runs share no epoch at all, the baseline's epochs are used and other runs show n/a.
    """
    common = set(runs[0].epochs).intersection(*(run.epochs for run in runs[1:]))
    return evenly_spaced(sorted(common) or runs[0].epochs)


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


# --------------------------------------------------------------------------- table

def best(run: Run, column: str) -> Optional[dict[str, Any]]:
    """The row with the lowest ``column`` (the earliest one on ties), None if never measured."""
    measured = run.values(column)
    return min(measured, key=lambda pair: (pair[1], pair[0]["epoch"]))[0] if measured else None


def minutes(row: Optional[dict[str, Any]]) -> Optional[float]:
    return None if row is None or row["train_seconds"] is None else row["train_seconds"] / 60


def summarize(run: Run, baseline_best_fid: Optional[float], rgb_table: bool) -> dict[str, Any]:
    """One table row as raw numbers (None = not available) for the markdown and W&B tables."""
    best_fid, best_kid = best(run, "fid"), best(run, "kid")
    fids, diversity = run.values("fid"), run.values("diversity")
    reaches = None
    if baseline_best_fid is not None:
        reaches = next((row for row, fid in fids if fid <= baseline_best_fid), None)
    summary = {
        "run": run.name,
        "model": run.model,
        "epochs": run.rows[-1]["epoch"],
        "best_fid": None if best_fid is None else best_fid["fid"],
        "best_fid_epoch": None if best_fid is None else best_fid["epoch"],
        "best_fid_minutes": minutes(best_fid),
        "final_fid": fids[-1][1] if fids else None,
        "final_fid_epoch": fids[-1][0]["epoch"] if fids else None,
        "best_kid": None if best_kid is None else best_kid["kid"],
        "best_kid_std": None if best_kid is None else best_kid["kid_std"],
        "final_diversity": diversity[-1][1] if diversity else None,
        "reaches_baseline_epoch": None if reaches is None else reaches["epoch"],
        "reaches_baseline_minutes": minutes(reaches),
        "fid_samples": run.metric_samples,
    }
    if rgb_table:
        summary["saturation"] = last_grid_saturation(run) if is_rgb(run) else None
    return summary


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_cells(row: dict[str, Any], has_fid: bool, final_epoch: int) -> list[str]:
    """The row's markdown cells; "final FID" names its epoch when the last row was not evaluated."""
    final_fid = fmt(row["final_fid"])
    if row["final_fid_epoch"] is not None and row["final_fid_epoch"] != final_epoch:
        final_fid += f" (epoch {row['final_fid_epoch']})"
    if row["best_kid"] is None:
        kid = "-"
    elif row["best_kid_std"] is None:
        kid = f"{row['best_kid'] * 1e3:.2f}"
    else:
        kid = f"{row['best_kid'] * 1e3:.2f} ± {row['best_kid_std'] * 1e3:.2f}"
    if not has_fid:
        reaches = "-"
    elif row["reaches_baseline_epoch"] is None:
        reaches = "never"
    else:
        reaches = f"epoch {row['reaches_baseline_epoch']} ({fmt(row['reaches_baseline_minutes'], 1)} min)"
    cells = [
        row["run"].replace("|", "\\|"), row["model"], str(row["epochs"]),
        fmt(row["best_fid"]), "-" if row["best_fid_epoch"] is None else str(row["best_fid_epoch"]),
        fmt(row["best_fid_minutes"], 1), final_fid, kid, fmt(row["final_diversity"], 3), reaches,
    ]
    if "saturation" in row:
        cells.append(fmt(row["saturation"], 3))
    return cells


def markdown_table(rows: list[dict[str, Any]], runs: Sequence[Run], skipped: Sequence[str]) -> str:
    """The markdown table plus the notes a reader needs to trust it (baseline, samples, timing)."""
    baseline = rows[0]
    has_fid = baseline["best_fid"] is not None
    header = ["run", "model", "epochs", "best FID", "best FID epoch", "best FID time (min)", "final FID",
              "best KID (x1e3)", "final diversity", f"reaches {baseline['run']}'s best FID at"]
    if "saturation" in baseline:
        header.append("saturation (last grid)")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    lines += ["| " + " | ".join(markdown_cells(row, has_fid, row["epochs"])) + " |" for row in rows]
    lines.append("")
    if has_fid:
        lines.append(f"Baseline: {baseline['run']} (the first run given); its best FID is {baseline['best_fid']:.2f}, "
                     f"and each run \"reaches\" it at its first epoch with FID <= that value.")
    else:
        lines.append(f"Baseline: {baseline['run']} (the first run given); it has no FID, so \"reaches\" is not computed.")
    lines.append(sample_count_note(runs))
    lines.append("Times: train_seconds from metrics.csv, cumulative training wall-clock time with evaluation "
                 "excluded, measured by each run on its own machine; compare times only across runs on the "
                 "same hardware.")
    if "saturation" in baseline:
        lines.append("Saturation: mean HSV saturation (max-min)/max of the sample pixels of each run's last grid, "
                     "grid padding excluded (real data, grayscale 0).")
    lines.append("Diversity: per-pixel std across the fixed-noise samples, averaged over pixels "
                 "(low = mode collapse; real data about 0.5).")
    lines += [f"Not plotted: no run has {metric} values." for metric in skipped]
    return "\n".join(lines) + "\n"


def sample_count_note(runs: Sequence[Run]) -> str:
    """FID is biased by the sample count, so say which counts the values come from."""
    counts = {run.name: run.metric_samples for run in runs}
    known = {n for n in counts.values() if n is not None}
    caveat = "FID values are only comparable at equal sample counts"
    if not known:
        return f"Samples per FID/KID: unknown (no metrics.num_samples in config.yaml); {caveat}."
    if len(known) == 1 and None not in counts.values():
        return f"Samples per FID/KID: {known.pop()} for every run; {caveat}."
    listed = ", ".join(f"{name}: {'?' if n is None else n}" for name, n in counts.items())
    return f"Samples per FID/KID differ ({listed}); {caveat}, so FIDs of different counts are NOT comparable."


# --------------------------------------------------------------------------- figures

def montage(runs: Sequence[Run], epochs: list[list[int]], out: Path, cell_images: Optional[int],
            cell_size: Optional[int]):
    """Rows of grids, one per run; shared "epoch N" column titles when all runs use the same epochs."""
    from igan.report.figures import MontageRow, render_montage

    rows = [MontageRow(run.name, [(f"epoch {e}", load_grid(run, e, cell_images)) for e in run_epochs])
            for run, run_epochs in zip(runs, epochs)]
    shared = all(e == epochs[0] for e in epochs)
    titles = [f"epoch {e}" for e in epochs[0]] if shared else None
    return render_montage(rows, out, column_titles=titles, cell_size=cell_size)


def curve_panels(runs: Sequence[Run]) -> tuple[list, list[str]]:
    """The FID and KID panels that some run has values for, and the names of those skipped.

    Without either (no Inception weights), diversity is plotted instead so curves.png still shows
    how training went.
    """
    from igan.report.figures import Panel, Series

    def series(run: Run, column: str, scale: float = 1.0, error: Optional[str] = None) -> Series:
        measured = run.values(column)
        return Series(
            name=run.name,
            epochs=[row["epoch"] for row, _ in measured],
            minutes=[minutes(row) for row, _ in measured],
            values=[value * scale for _, value in measured],
            errors=None if error is None else [None if row[error] is None else row[error] * scale for row, _ in measured],
        )

    panels, skipped = [], []
    if any(run.values("fid") for run in runs):
        panels.append(Panel("FID", "FID (lower is better)", [series(run, "fid") for run in runs]))
    else:
        skipped.append("FID")
    if any(run.values("kid") for run in runs):
        panels.append(Panel("KID", "KID x1e3 (band: ± std)", [series(run, "kid", 1e3, "kid_std") for run in runs]))
    else:
        skipped.append("KID")
    if not panels and any(run.values("diversity") for run in runs):
        panels.append(Panel("diversity", "diversity (per-pixel std)", [series(run, "diversity") for run in runs]))
    return panels, skipped


# --------------------------------------------------------------------------- W&B

def log_to_wandb(paths: dict[str, Path], rows: list[dict[str, Any]]) -> bool:
    """Log the figures and table to the active W&B run, if a caller started one; True if logged.

    wandb is only looked up among already imported modules: no run can be active otherwise, and
    importing it costs seconds.
    """
    wandb = sys.modules.get("wandb")
    if wandb is None or getattr(wandb, "run", None) is None:
        return False
    logged: dict[str, Any] = {f"compare/{key}": wandb.Image(str(path)) for key, path in paths.items() if path}
    columns = list(rows[0])
    logged["compare/table"] = wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in rows])
    wandb.run.log(logged)
    return True


# --------------------------------------------------------------------------- API and CLI

def compare_runs(run_dirs: list[Path], out: Path, epochs: Optional[str | list[int] | list[list[int]]] = None,
                 labels: Optional[list[str]] = None, cell_images: Optional[int] = None,
                 cell_size: Optional[int] = None) -> dict[str, Any]:
    """Compare ``run_dirs`` (the first is the baseline) and write montage, curves and table into ``out``.

    ``epochs``: None (evenly spaced common epochs), the CLI's string ("0,3;0,10"), one list for
    all runs or one list per run. Raises :class:`IganError` for bad input; missing grids only warn
    (:class:`CompareWarning`). Returns ``{"montage", "curves" (None if nothing to plot), "table":
    paths, "rows": raw table rows, "markdown": table text, "epochs": per-run epochs,
    "skipped": metrics no run has, "montage_layout": the cells' pixel boxes, "wandb": whether it was
    logged}``.
    """
    runs = load_runs([Path(d) for d in run_dirs], labels)
    per_run = resolve_epochs(epochs, runs)
    if cell_images is not None and cell_images < 1:
        raise IganError(f"--cells-images must be >= 1, got {cell_images}")
    if cell_size is not None and cell_size < 8:
        raise IganError(f"--cell-size must be >= 8 pixels, got {cell_size}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise IganError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    layout = montage(runs, per_run, out / "montage.png", cell_images, cell_size)
    panels, skipped = curve_panels(runs)
    curves = None
    if panels:
        from igan.report.figures import render_curves

        curves = render_curves(panels, out / "curves.png")
    baseline_fid = best(runs[0], "fid")
    rgb_table = any(is_rgb(run) for run in runs)
    rows = [summarize(run, None if baseline_fid is None else baseline_fid["fid"], rgb_table) for run in runs]
    markdown = markdown_table(rows, runs, skipped)
    table = out / "table.md"
    table.write_text(markdown)
    paths = {"montage": out / "montage.png", "curves": curves, "table": table}
    logged = log_to_wandb({"montage": paths["montage"], "curves": curves}, rows)
    return {**paths, "rows": rows, "markdown": markdown, "epochs": per_run, "skipped": skipped,
            "montage_layout": layout, "wandb": logged}


def resolve_epochs(epochs: Optional[str | list[int] | list[list[int]]], runs: Sequence[Run]) -> list[list[int]]:
    """Per-run epoch lists from any of the accepted forms (see :func:`compare_runs`)."""
    if epochs is None:
        return [default_epochs(runs)] * len(runs)
    if isinstance(epochs, str):
        return parse_epochs(epochs, len(runs))
    if all(isinstance(e, int) for e in epochs):
        return parse_epochs(",".join(map(str, epochs)), len(runs))
    return parse_epochs(";".join(",".join(map(str, group)) for group in epochs), len(runs))


class UsageError(IganError):
    """A command-line mistake argparse found (missing --out, a non-integer --cell-size)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose mistakes reach main() as exceptions, to be reported like any bad input.

    argparse would print its usage block and exit; main() instead prints one ``error: ...`` line
    and returns 2, so callers of main(argv) get a status rather than SystemExit.
    """

    def error(self, message: str):
        raise UsageError(f"{message} (see --help)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m igan.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="training run directories (with metrics.csv); the first is the baseline")
    parser.add_argument("--out", type=Path, required=True, help="output directory (created)")
    parser.add_argument("--epochs", help="montage epochs: '0,3,6' for all runs, or '0,3,6;0,10,20' one list "
                                         "per run (quote it: ';' ends a shell command); default: up to 5 "
                                         "evenly spaced epochs every run evaluated")
    parser.add_argument("--labels", help="comma-separated run names (default: the directories' names)")
    parser.add_argument("--cells-images", type=int, metavar="K",
                        help="show only the first K x K images of each grid (default: the whole grid)")
    parser.add_argument("--cell-size", type=int, metavar="PX",
                        help="scale each cell so its longer side is PX pixels (default: the grids' own size)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    labels = [label.strip() for label in args.labels.split(",")] if args.labels else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompareWarning)
        try:
            result = compare_runs(args.run_dirs, args.out, epochs=args.epochs, labels=labels,
                                  cell_images=args.cells_images, cell_size=args.cell_size)
        except IganError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for warning in caught:
        if issubclass(warning.category, CompareWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:  # someone else's warning: shown as Python would have shown it
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    print(result["markdown"], end="")
    written = [str(result[key]) for key in ("montage", "curves", "table") if result[key]]
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
