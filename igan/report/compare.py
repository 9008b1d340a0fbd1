"""Compare training runs from the files they leave locally: montage, band curves, comparison.json, table, verdict.

``igan compare RUN_DIR... --out DIR [--epochs 0,3,6;0,10,20] [--labels a,b] [--target-fid F]``
reads each run's ``metrics.csv``, ``config.yaml`` and fixed-noise grid PNGs
(:mod:`igan.report.runs`), groups the runs of one config across seeds (by ``--labels`` name, else
by run name without its ``-s<seed>`` suffix) and writes into DIR:

- ``montage.png``: one row per run, one column per chosen epoch, each cell the run's grid;
- ``curves.png``: FID, KID, recall, coverage and distinct_nn against epoch and against training time, each
  model's mean over seeds with a min-max band and each seed's curve faint;
- ``comparison.json``: the one machine-readable answer (:mod:`igan.report.comparison`): every
  run with its status, per model the seeds' values with mean, sd and Student-t interval, the
  speed against a fixed FID target, and each model against the baseline with its tests;
- ``table.md`` (also printed): the table rendered from it (:mod:`igan.report.table`), followed
  by the verdict paragraph;
- ``verdict.md``: that paragraph alone (:mod:`igan.report.verdict`).

The first group given is the baseline. No W&B is needed; when a W&B run is active the montage,
curves and table are logged to it as well.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from igan.errors import ArgumentParser, IganError, UsageError
from igan.report.runs import (
    CompareWarning,
    Run,
    RunGroup,
    group_runs,
    load_grid,
    load_runs,
)

MONTAGE_COLUMNS = 5
#: Curves drawn when some run has the column: (column, panel title, y label, scale, error column).
CURVE_METRICS = (
    ("fid", "FID", "FID (lower is better)", 1.0, None),
    ("kid", "KID", "KID x1e3", 1e3, "kid_std"),
    ("recall", "recall", "recall (k=3; falling = fewer modes)", 1.0, None),
    ("coverage", "coverage", "coverage (k=5; falling = fewer modes)", 1.0, None),
    ("distinct_nn", "distinct NN", "distinct nearest real / samples (falling = collapse)", 1.0, None),
    ("l1", "held-out L1", "L1 to the true glyph (lower is better)", 1.0, None),
    ("ssim", "held-out SSIM", "SSIM to the true glyph (higher is better)", 1.0, None),
)

__all__ = ["CompareWarning", "compare_runs", "main", "parse_epochs"]


# --------------------------------------------------------------------------- choosing epochs

def parse_epochs(text: str, runs: int, groups: Optional[int] = None) -> list[list[int]]:
    """``"0,3,6"`` (the same epochs for every run), ``"0,3,6;0,10,20"`` (one list per run or per group).

    Per-run lists let the montage put e.g. IDCGAN at 0,3,6 beside DCGAN at 0,10,20. Returns one
    list, or as many as given.
    """
    groups_text = text.split(";")
    allowed = {1, runs} | ({groups} if groups else set())
    if len(groups_text) not in allowed:
        per_group = f", one per model ({groups})" if groups and groups != runs else ""
        raise IganError(f"--epochs has {len(groups_text)} ';'-separated lists for {runs} run(s): give one{per_group}, "
                        f"or one per run")
    parsed = []
    for group in groups_text:
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
    runs = [run for run in runs if run.rows] or list(runs)
    common = set(runs[0].epochs).intersection(*(run.epochs for run in runs[1:]))
    return evenly_spaced(sorted(common) or runs[0].epochs)


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


def run_series(run: Run, column: str, scale: float = 1.0, error: Optional[str] = None):
    from igan.report.figures import Series
    from igan.report.table import kid_std_meaningful, minutes

    measured = run.values(column)
    errors = None
    if error is not None:
        errors = [row[error] * scale if kid_std_meaningful(run, row.get(error)) else None for row, _ in measured]
    return Series(name=run.name, epochs=[row["epoch"] for row, _ in measured],
                  minutes=[minutes(row) for row, _ in measured],
                  values=[value * scale for _, value in measured], errors=errors)


def group_curve(group: RunGroup, column: str, scale: float = 1.0, error: Optional[str] = None):
    """The group's mean, min-max band and seed lines of ``column`` on the epochs every seed measured.

    The time axis of the mean uses each epoch's mean training minutes (None where a seed lacks one).
    """
    from igan.report.figures import Curve, Series

    seeds = [run_series(run, column, scale, error) for run in group.runs]
    if len(seeds) == 1:
        return Curve(group.label, seeds[0])
    common = sorted(set(seeds[0].epochs).intersection(*(s.epochs for s in seeds[1:])))
    values = [[s.values[s.epochs.index(e)] for s in seeds] for e in common]
    times = [[s.minutes[s.epochs.index(e)] for s in seeds] for e in common]
    mean = Series(name=group.label, epochs=common,
                  minutes=[None if None in t else sum(t) / len(t) for t in times],
                  values=[sum(v) / len(v) for v in values])
    return Curve(group.label, mean, low=[min(v) for v in values], high=[max(v) for v in values], seeds=seeds)


def curve_panels(groups: Sequence[RunGroup]) -> tuple[list, list[str]]:
    """The panels some run has values for, and the names of FID/KID when skipped.

    Without FID and KID (no Inception weights), diversity is plotted instead so curves.png still
    shows how training went.
    """
    from igan.report.figures import Panel

    runs = [run for group in groups for run in group.runs]
    groups = [RunGroup(g.label, [run for run in g.runs if run.rows]) for g in groups]
    groups = [g for g in groups if g.runs]
    panels, skipped = [], []
    for column, title, ylabel, scale, error in CURVE_METRICS:
        if any(run.has(column) for run in runs):
            panels.append(Panel(title, ylabel, [group_curve(g, column, scale, error) for g in groups]))
        elif column in ("fid", "kid"):
            skipped.append(title)
    if not panels and any(run.has("diversity") for run in runs):
        panels.append(Panel("diversity", "diversity (per-pixel std)", [group_curve(g, "diversity") for g in groups]))
    return panels, skipped


# --------------------------------------------------------------------------- W&B

def log_to_wandb(paths: dict[str, Optional[Path]], rows: list[dict[str, Any]]) -> bool:
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
                 cell_size: Optional[int] = None, target_fid: Optional[float] = None) -> dict[str, Any]:
    """Compare ``run_dirs`` (the first group is the baseline) and write montage, curves, comparison.json,
    table and verdict.

    Runs sharing a label (``labels``, else the run name without ``-s<seed>``) are seeds of one
    model. ``epochs``: None (evenly spaced common epochs), the CLI's string ("0,3;0,10"), one list
    for all runs, or one list per run or per group. Raises :class:`IganError` for bad input;
    missing grids only warn (:class:`CompareWarning`). Returns ``{"montage", "curves" (None if
    nothing to plot), "table", "verdict_file", "json": paths, "comparison": comparison.json's dict
    (:func:`igan.report.comparison.build_comparison`), "target": the FID target (None without
    one), "markdown": table, notes and verdict, "verdict": the paragraph, "panels": the curves'
    data, "epochs": per-run epochs (runs in montage order), "runs": run names in that order,
    "skipped": metrics no run has, "montage_layout": the cells' pixel boxes, "wandb": whether it
    was logged}``.
    """
    from igan.report.comparison import build_comparison, write_comparison
    from igan.report.table import flat_rows, markdown_table
    from igan.report.verdict import verdict

    given = load_runs([Path(d) for d in run_dirs], labels)
    groups = group_runs(given)
    runs = [run for group in groups for run in group.runs]  # montage rows: a group's seeds together
    per_run = resolve_epochs(epochs, given, groups)
    if cell_images is not None and cell_images < 1:
        raise IganError(f"--cells-images must be >= 1, got {cell_images}")
    if target_fid is not None and not target_fid > 0:
        raise IganError(f"--target-fid must be a positive FID, got {target_fid}")
    if cell_size is not None and cell_size < 8:
        raise IganError(f"--cell-size must be >= 8 pixels, got {cell_size}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise IganError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)

    layout = montage(runs, [per_run[given.index(run)] for run in runs], out / "montage.png", cell_images, cell_size)
    panels, skipped = curve_panels(groups)
    curves = None
    if panels:
        from igan.report.figures import render_curves

        curves = render_curves(panels, out / "curves.png")
    comparison = build_comparison(groups, target_fid)
    write_comparison(comparison, out / "comparison.json")
    paragraph = verdict(comparison)
    markdown = markdown_table(comparison, runs, skipped) + "\n" + paragraph
    (out / "table.md").write_text(markdown)
    (out / "verdict.md").write_text(paragraph)
    paths = {"montage": out / "montage.png", "curves": curves, "table": out / "table.md",
             "verdict_file": out / "verdict.md", "json": out / "comparison.json"}
    logged = log_to_wandb({"montage": paths["montage"], "curves": curves}, flat_rows(comparison))
    return {**paths, "comparison": comparison, "target": comparison["target_fid"]["value"],
            "markdown": markdown, "verdict": paragraph, "panels": panels,
            "epochs": [per_run[given.index(run)] for run in runs], "runs": [run.name for run in runs],
            "skipped": skipped, "montage_layout": layout, "wandb": logged}


def resolve_epochs(epochs: Optional[str | list[int] | list[list[int]]], runs: Sequence[Run],
                   groups: Sequence[RunGroup]) -> list[list[int]]:
    """Per-run epoch lists (in the order runs were given) from any accepted form (see :func:`compare_runs`).

    One list per group, when there are fewer groups than runs, applies to each of its seeds.
    """
    if epochs is None:
        return [default_epochs(runs)] * len(runs)
    if isinstance(epochs, str):
        text = epochs
    elif all(isinstance(e, int) for e in epochs):
        text = ",".join(map(str, epochs))
    else:
        text = ";".join(",".join(map(str, group)) for group in epochs)
    parsed = parse_epochs(text, len(runs), len(groups))
    if len(parsed) == len(runs):
        return parsed
    by_label = {group.label: lists for group, lists in zip(groups, parsed)}
    return [by_label[run.label] for run in runs]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="igan compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="training run directories (with metrics.csv); the first run's model is the baseline")
    parser.add_argument("--out", type=Path, required=True, help="output directory (created)")
    parser.add_argument("--epochs", help="montage epochs: '0,3,6' for all runs, or '0,3,6;0,10,20' one list "
                                         "per run (quote it: ';' ends a shell command); default: up to 5 "
                                         "evenly spaced epochs every run evaluated")
    parser.add_argument("--labels", help="comma-separated model names, one per run; runs given the same name are "
                                         "seeds of one model (default: each run's name without its -s<seed> suffix)")
    parser.add_argument("--target-fid", type=float, metavar="FID",
                        help="the FID level whose crossing measures speed, fixed before looking at the results "
                             "(default: the lowest point of the baseline's mean FID curve; it must lie below every "
                             "run's first evaluated FID)")
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
                                  cell_images=args.cells_images, cell_size=args.cell_size,
                                  target_fid=args.target_fid)
        except IganError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for warning in caught:
        if issubclass(warning.category, CompareWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:  # someone else's warning: shown as Python would have shown it
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    print(result["markdown"], end="")
    written = [str(result[key]) for key in ("montage", "curves", "json", "table", "verdict_file") if result[key]]
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    return 0
