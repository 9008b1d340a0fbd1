"""The comparison table: one row per model group, mean and spread over its seeds, with intervals.

Numbers first (:func:`summarize_groups` returns plain dicts, also logged to W&B), then the
markdown (:func:`markdown_table`) with the notes a reader needs to trust it.

The speed target is the highest best FID among the baseline's seeds (with one seed: its best
FID). Every baseline seed reaches that level, so the baseline's epochs to it, and the speed-up
ratio "baseline epochs / model epochs", are defined; the baseline's *mean* best FID would be out
of reach for each baseline seed whose best lies above the mean, leaving the ratio undefined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from igan.report import stats
from igan.report.runs import (
    PRDC_COLUMNS,
    Run,
    RunGroup,
    is_rgb,
    last_grid_saturation,
)

#: Columns of collapse-aware metrics shown in the table (density is in the CSV and curves' data only).
TABLE_PRDC = ("precision", "recall", "coverage")
#: Below this many fake images KID uses one subset, the whole set (igan.metrics.evaluate): its std is 0.
KID_SUBSET_SIZE = 1000


@dataclass
class Stat:
    """A quantity over a group's seeds: per-seed values, mean, sd (n > 1) and bootstrap interval."""

    values: list[float]
    mean: Optional[float]
    sd: Optional[float]
    interval: Optional[stats.Interval]

    @property
    def n(self) -> int:
        return len(self.values)


def stat(values: Sequence[Optional[float]]) -> Stat:
    """The statistic of the measured values (None = not measured by that seed is left out)."""
    measured = [float(v) for v in values if v is not None]
    return Stat(measured, stats.mean(measured), stats.sd(measured), stats.bootstrap_mean(measured))


def best_row(run: Run, column: str) -> Optional[dict[str, Any]]:
    """The row with the lowest ``column`` (the earliest one on ties), None if never measured."""
    measured = run.values(column)
    return min(measured, key=lambda pair: (pair[1], pair[0]["epoch"]))[0] if measured else None


def final_value(run: Run, column: str) -> Optional[float]:
    measured = run.values(column)
    return measured[-1][1] if measured else None


def minutes(row: Optional[dict[str, Any]]) -> Optional[float]:
    return None if row is None or row.get("train_seconds") is None else row["train_seconds"] / 60


def kid_std_meaningful(run: Run, kid_std: Optional[float]) -> bool:
    """KID's std says something only when it is > 0 and came from several subsets.

    With N <= 1000 fake images KID uses one subset, the whole set, and its std is 0 by
    construction; an unknown N is judged by the value alone.
    """
    if kid_std is None or not kid_std > 0:
        return False
    samples = run.metric_samples
    return samples is None or samples > KID_SUBSET_SIZE


def reaches(run: Run, target: Optional[float]) -> tuple[Optional[float], Optional[float]]:
    """(epoch, minutes) of the run's first evaluation with FID <= target; inf for never, None without target."""
    if target is None:
        return None, None
    row = next((row for row, fid in run.values("fid") if fid <= target), None)
    if row is None:
        return math.inf, math.inf
    return float(row["epoch"]), minutes(row)


def summarize_run(run: Run, target: Optional[float]) -> dict[str, Any]:
    """One run's raw numbers (None = not available)."""
    best_fid, best_kid = best_row(run, "fid"), best_row(run, "kid")
    fids = run.values("fid")
    epoch, time = reaches(run, target)
    summary = {
        "run": run.name, "group": run.label, "seed": run.seed, "model": run.model, "epochs": run.rows[-1]["epoch"],
        "best_fid": None if best_fid is None else best_fid["fid"],
        "best_fid_epoch": None if best_fid is None else best_fid["epoch"],
        "best_fid_minutes": minutes(best_fid),
        "final_fid": fids[-1][1] if fids else None,
        "final_fid_epoch": fids[-1][0]["epoch"] if fids else None,
        "best_kid": None if best_kid is None else best_kid["kid"],
        "best_kid_std": None if best_kid is None or not kid_std_meaningful(run, best_kid["kid_std"])
        else best_kid["kid_std"],
        "final_diversity": final_value(run, "diversity"),
        "reaches_target_epoch": epoch, "reaches_target_minutes": time,
        "fid_samples": run.metric_samples,
    }
    summary.update({f"final_{c}": final_value(run, c) for c in PRDC_COLUMNS})
    return summary


def speed_target(baseline: RunGroup) -> Optional[float]:
    """The highest best FID among the baseline's seeds: a level each of them reaches."""
    bests = [best["fid"] for best in (best_row(run, "fid") for run in baseline.runs) if best is not None]
    return max(bests) if bests else None


def summarize_groups(groups: Sequence[RunGroup], rgb_table: Optional[bool] = None) -> tuple[list[dict[str, Any]], Optional[float]]:
    """One dict per group (the first is the baseline) and the FID target; see the module docstring."""
    target = speed_target(groups[0])
    if rgb_table is None:
        rgb_table = any(is_rgb(run) for group in groups for run in group.runs)
    summaries = []
    for group in groups:
        runs = [summarize_run(run, target) for run in group.runs]
        summary: dict[str, Any] = {
            "group": group.label, "model": group.model, "seeds": group.seeds, "runs": runs,
            "epochs": max(r["epochs"] for r in runs),
            "best_fid": stat([r["best_fid"] for r in runs]),
            "final_fid": stat([r["final_fid"] for r in runs]),
            "best_kid": stat([r["best_kid"] for r in runs]),
            "final_diversity": stat([r["final_diversity"] for r in runs]),
            "reach_epochs": stat([r["reaches_target_epoch"] for r in runs]),
            "reach_minutes": stat([r["reaches_target_minutes"] for r in runs]),
        }
        summary.update({f"final_{c}": stat([r[f"final_{c}"] for r in runs]) for c in PRDC_COLUMNS})
        if rgb_table:
            summary["saturation"] = stat([last_grid_saturation(run) if is_rgb(run) else None for run in group.runs])
        summaries.append(summary)
    baseline = summaries[0]
    for summary in summaries:
        for unit in ("epochs", "minutes"):
            base, own = baseline[f"reach_{unit}"].values, summary[f"reach_{unit}"].values
            complete = len(base) == len(baseline["runs"]) and len(own) == len(summary["runs"])
            summary[f"speedup_{unit}"] = stats.ratio(base, own) if complete else None
            summary[f"speedup_{unit}_interval"] = stats.bootstrap_ratio(base, own) if complete else None
    return summaries, target


# --------------------------------------------------------------------------- markdown

def fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def one_seed(n: int) -> str:
    return f"n/a ({n} seed)" if n == 1 else "n/a"


def mean_sd(value: Stat, digits: int = 2, scale: float = 1.0) -> str:
    """"mean ± sd" over seeds; a lone value alone (never a "± 0.00" that means nothing)."""
    if value.mean is None:
        return "-"
    text = f"{value.mean * scale:.{digits}f}"
    if value.sd is not None and value.n > 1:
        text += f" ± {value.sd * scale:.{digits}f}"
    return text


def interval_text(interval: Optional[stats.Interval], n: int, digits: int) -> str:
    if interval is None:
        return f"[{one_seed(n)}]" if n == 1 else "[n/a]"
    high = "never" if math.isinf(interval.high) else f"{interval.high:.{digits}f}"
    return f"[{interval.low:.{digits}f}, {high}]"


def reach_cell(value: Stat, runs: int, digits: int) -> str:
    """Mean epochs (minutes) to the target with its interval; "never" for seeds that did not get there."""
    if value.mean is None:
        return "-"
    never = sum(math.isinf(v) for v in value.values)
    if never == value.n:
        return "never"
    if never:
        return f"never in {never} of {value.n} seeds"
    digits = 0 if value.n == 1 and digits == 0 else max(digits, 1)
    return f"{value.mean:.{digits}f} {interval_text(value.interval, value.n, digits)}"


def speedup_cell(summary: dict[str, Any], baseline: dict[str, Any], unit: str) -> str:
    if summary is baseline:
        return "1 (baseline)" if baseline[f"reach_{unit}"].mean is not None else "-"
    ratio = summary[f"speedup_{unit}"]
    if ratio is None:
        return "-"
    if ratio == 0:
        return "never reaches"
    n = min(summary[f"reach_{unit}"].n, baseline[f"reach_{unit}"].n)
    return f"{ratio:.2f}x {interval_text(summary[f'speedup_{unit}_interval'], n, 2)}"


def kid_cell(summary: dict[str, Any]) -> str:
    """Best KID x1e3: mean ± sd over seeds, or one run's KID ± its subsets' std where that means something."""
    kid: Stat = summary["best_kid"]
    if kid.n == 1 and summary["runs"][0]["best_kid_std"] is not None:
        return f"{kid.mean * 1e3:.2f} ± {summary['runs'][0]['best_kid_std'] * 1e3:.2f}"
    return mean_sd(kid, 2, 1e3)


def seeds_cell(summary: dict[str, Any]) -> str:
    seeds = summary["seeds"]
    known = [str(s) for s in seeds if s is not None]
    return f"{len(seeds)} ({', '.join(known)})" if len(known) == len(seeds) else str(len(seeds))


def shown_prdc(summaries: Sequence[dict[str, Any]]) -> list[str]:
    return [c for c in TABLE_PRDC if any(s[f"final_{c}"].n for s in summaries)]


def markdown_table(summaries: list[dict[str, Any]], target: Optional[float], runs: Sequence[Run],
                   skipped: Sequence[str]) -> str:
    """The markdown table plus its notes (target, intervals, samples, timing)."""
    baseline = summaries[0]
    prdc = shown_prdc(summaries)
    target_name = "-" if target is None else f"{target:.2f}"
    header = (["model", "seeds", "generator", "epochs", "best FID", "final FID", "best KID (x1e3)"]
              + [f"final {c}" for c in prdc]
              + ["final diversity", f"epochs to FID {target_name}", f"minutes to FID {target_name}",
                 "speed-up (epochs)", "speed-up (time)"])
    if "saturation" in baseline:
        header.append("saturation (last grid)")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    for summary in summaries:
        cells = [summary["group"].replace("|", "\\|"), seeds_cell(summary), summary["model"], str(summary["epochs"]),
                 mean_sd(summary["best_fid"]), mean_sd(summary["final_fid"]), kid_cell(summary)]
        cells += [mean_sd(summary[f"final_{c}"], 3) for c in prdc]
        cells += [mean_sd(summary["final_diversity"], 3),
                  reach_cell(summary["reach_epochs"], len(summary["runs"]), 0),
                  reach_cell(summary["reach_minutes"], len(summary["runs"]), 1),
                  speedup_cell(summary, baseline, "epochs"), speedup_cell(summary, baseline, "minutes")]
        if "saturation" in summary:
            cells.append(mean_sd(summary["saturation"], 3))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += notes(summaries, target, runs, skipped, prdc)
    return "\n".join(lines) + "\n"


def notes(summaries: list[dict[str, Any]], target: Optional[float], runs: Sequence[Run], skipped: Sequence[str],
          prdc: Sequence[str]) -> list[str]:
    baseline = summaries[0]
    n_base = len(baseline["runs"])
    lines = []
    if target is None:
        lines.append(f"Baseline: {baseline['group']} (the first given); it has no FID, so no target is computed.")
    else:
        which = "its best FID" if n_base == 1 else f"the highest best FID among its {n_base} seeds, a level each reaches"
        lines.append(f"Baseline: {baseline['group']} (the first given). Target: FID {target:.2f}, {which}; a run "
                     f"reaches it at its first evaluated epoch with FID <= target. Epochs, minutes and values are "
                     f"means over a model's seeds; ± is their sample standard deviation.")
    lines.append(f"[low, high]: {stats.CONFIDENCE:.0%} percentile bootstrap interval of the mean over seeds "
                 f"({stats.RESAMPLES} resamples, RNG seed {stats.RNG_SEED}); speed-up = the baseline's mean epochs "
                 f"(minutes) to the target / the model's, the two models' seeds resampled independently. "
                 f"n/a (1 seed): one seed leaves nothing to resample, so no interval can be computed.")
    lines.append("Best KID: with one seed, ± is the std over KID subsets, shown only when several subsets were "
                 f"used (more than {KID_SUBSET_SIZE} samples).")
    lines.append(sample_count_note(runs))
    lines.append("Times: train_seconds from metrics.csv, cumulative training wall-clock time with evaluation "
                 "excluded, measured by each run on its own machine; compare times only across runs on the "
                 "same hardware.")
    if prdc:
        lines.append("Precision, recall (k=3) and coverage (k=5) at the last evaluation: recall or coverage "
                     "falling while FID improves is a collapse FID alone misses.")
        reference = real_reference_note(runs)
        if reference:
            lines.append(reference)
    if "saturation" in baseline:
        lines.append("Saturation: mean HSV saturation (max-min)/max of the sample pixels of each run's last grid, "
                     "grid padding excluded (real data, grayscale 0).")
    lines.append("Diversity: per-pixel std across the fixed-noise samples, averaged over pixels "
                 "(low = mode collapse; real data about 0.5).")
    lines += [f"Not plotted: no run has {metric} values." for metric in skipped]
    return lines


def real_reference_note(runs: Sequence[Run]) -> Optional[str]:
    """The real-vs-real level of the PRDC metrics, from the first run that stored it."""
    for run in runs:
        reference = run.real_reference
        if reference:
            values = ", ".join(f"{k} {v:.3f}" for k, v in reference.items())
            return f"Real vs real (two disjoint halves of the real images, from {run.name}): {values}."
    return None


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


def flat_rows(summaries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups as flat rows of numbers (for a W&B table): means, sds and interval ends."""
    rows = []
    for summary in summaries:
        row: dict[str, Any] = {"model": summary["group"], "generator": summary["model"], "seeds": len(summary["runs"])}
        for key, value in summary.items():
            if isinstance(value, Stat):
                row[f"{key}_mean"], row[f"{key}_sd"] = value.mean, value.sd
                row[f"{key}_low"] = None if value.interval is None else value.interval.low
                row[f"{key}_high"] = None if value.interval is None else value.interval.high
        for unit in ("epochs", "minutes"):
            interval = summary[f"speedup_{unit}_interval"]
            row[f"speedup_{unit}"] = summary[f"speedup_{unit}"]
            row[f"speedup_{unit}_low"] = None if interval is None else interval.low
            row[f"speedup_{unit}_high"] = None if interval is None else interval.high
        rows.append(row)
    return rows
