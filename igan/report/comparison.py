"""The comparison as data: ``comparison.json``, the one machine-readable answer that table and verdict render.

:func:`build_comparison` turns seed groups (the first is the baseline) into a plain dict of
numbers and words, without NaN or inf (missing is None), whose schema docs/guide/studies.md
documents. Every run given appears in it with its status; only finished and diverged runs (runs
that came to their end) enter the statistics, and a group says how many of its seeds did.

Statistics (:mod:`igan.report.stats`): per group, mean, sd and Student-t interval of each metric
over its seeds; per challenger against the baseline, Welch's t test and an exact permutation
test, and ``distinguishable`` when both say so (see :func:`igan.report.stats.distinguishable`).
The collapse measure distinct_nn is also given per seed relative to the run's own real-vs-real
value (``distinct_nn_relative``: near 1 for samples spread like real ones).
Speed (:mod:`igan.report.speed`): the target, each seed's crossing or censoring, the restricted
epochs to the target, and the speed-up as the ratio of the two groups' geometric mean restricted
epochs, tested on log epochs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from igan.report import collapse, speed, stats
from igan.report.runs import Run, RunGroup, Status, is_rgb, last_grid_saturation, run_status
from igan.study.machine import MACHINE_FILE, read_machine

SCHEMA = 1
#: Metrics summarised per seed: (column, which of its values, better when). "best" is the lowest FID/KID/L1 and
#: the highest precision/recall/coverage/distinct_nn/SSIM over the run's evaluations, "final" its last evaluation.
BASE_METRICS = (("fid", "lower"), ("kid", "lower"), ("precision", "higher"), ("recall", "higher"),
                ("coverage", "higher"), ("distinct_nn", "higher"), ("l1", "lower"), ("ssim", "higher"))
FINAL_ONLY = (("diversity", "higher"),)
#: Translation runs' per-style held-out scores: columns "l1_<style>", "ssim_<style>".
STYLE_PREFIXES = (("l1_", "lower"), ("ssim_", "higher"))
#: CPU shares within this fraction of each other count as alike.
SHARE_TOLERANCE = 0.1


@dataclass(frozen=True)
class Metric:
    column: str
    kind: str  # "best" or "final"
    better: str  # "lower" or "higher"

    @property
    def key(self) -> str:
        return f"{self.kind}_{self.column}"


def metric_list(runs: Sequence[Run]) -> list[Metric]:
    """The metrics some run measured, in a fixed order (per-style translation scores after the rest)."""
    metrics = []
    for column, better in BASE_METRICS:
        if any(run.has(column) for run in runs):
            metrics += [Metric(column, "best", better), Metric(column, "final", better)]
    for column, better in FINAL_ONLY:
        if any(run.has(column) for run in runs):
            metrics.append(Metric(column, "final", better))
    styled = sorted({c for run in runs for row in run.rows for c in row if isinstance(row.get(c), float)
                     and any(c.startswith(p) for p, _ in STYLE_PREFIXES)})
    for column in styled:
        better = next(b for p, b in STYLE_PREFIXES if column.startswith(p))
        metrics.append(Metric(column, "final", better))
    return metrics


def diverged(run: Run) -> bool:
    return any(c in run.nan_epochs for c in ("fid", "kid", "d_loss", "g_loss", "l1", "ssim"))


def run_value(run: Run, metric: Metric) -> tuple[Optional[float], Optional[int]]:
    """(value, epoch) of the metric in the run; a diverged run has no final value (its end state is NaN)."""
    measured = run.values(metric.column)
    if not measured:
        return None, None
    if metric.kind == "final":
        if diverged(run):
            return None, None
        row, value = measured[-1]
        return value, row["epoch"]
    sign = 1.0 if metric.better == "lower" else -1.0
    row, value = min(measured, key=lambda pair: (sign * pair[1], pair[0]["epoch"]))
    return value, row["epoch"]


def stat(values: Sequence[float], seeds: Sequence[Any]) -> dict[str, Any]:
    """Per-seed values with their mean, sd and Student-t interval (None where undefined)."""
    interval = stats.t_interval(values)
    return {"values": list(values), "seeds": list(seeds), "n": len(values), "mean": stats.mean(values),
            "sd": stats.sd(values), "interval": None if interval is None else interval.as_dict()}


def measured_stat(runs: Sequence[Run], values: Sequence[Optional[float]]) -> dict[str, Any]:
    pairs = [(run.seed if run.seed is not None else run.name, v) for run, v in zip(runs, values) if v is not None]
    return stat([v for _, v in pairs], [s for s, _ in pairs])


# --------------------------------------------------------------------------- timing

def machine_record(run: Run) -> Optional[dict[str, Any]]:
    """The host, threads and CPU share the run trained with (:mod:`igan.study.machine`); None when not recorded."""
    return read_machine(run.path)


def timing(runs: Sequence[Run]) -> dict[str, Any]:
    """Whether the runs' training minutes compare: same host and threads, alike CPU shares, all recorded."""
    records = [machine_record(run) for run in runs]
    if not runs:
        return {"comparable": False, "reason": "no run to time"}
    missing = [run.name for run, r in zip(runs, records) if r is None]
    if missing:
        return {"comparable": False, "reason": f"the runs do not record the host, threads and CPU share they trained "
                                               f"with ({MACHINE_FILE} missing in {len(missing)} of {len(runs)}), so "
                                               f"their times may come from unequally shared machines"}
    hosts = {str(r["host"]) for r in records}
    threads = {str(r["threads"]) for r in records}
    shares = [float(r["cpu_share"]) for r in records]
    if len(hosts) > 1 or len(threads) > 1:
        return {"comparable": False, "reason": f"the runs trained on different hosts or thread counts "
                                               f"({', '.join(sorted(hosts))}; threads {', '.join(sorted(threads))})"}
    if max(shares) > (1 + SHARE_TOLERANCE) * min(shares):
        return {"comparable": False, "reason": f"the runs got unequal CPU shares ({min(shares):.2f} to {max(shares):.2f})"}
    return {"comparable": True, "reason": f"every run trained on {hosts.pop()} with {threads.pop()} threads and a "
                                          f"CPU share of {min(shares):.2f} to {max(shares):.2f}"}


# --------------------------------------------------------------------------- contrasts

def contrast(base: Sequence[float], own: Sequence[float], better: str) -> Optional[dict[str, Any]]:
    """The challenger's mean minus the baseline's, Welch's and the permutation test, and whether they differ."""
    test = stats.welch(base, own)
    if test is None:
        return None
    perm = stats.permutation_test(base, own)
    return {"difference": test.difference, "better": better,
            "interval": None if test.interval is None else test.interval.as_dict(),
            "welch_p": test.p, "welch_df": test.df,
            "permutation_p": perm.p, "permutation_min_p": perm.min_p, "permutation_exact": perm.exact,
            "distinguishable": stats.distinguishable(test, perm)}


def speedup(base: Sequence[float], own: Sequence[float], base_censored: int, own_censored: int) -> Optional[dict]:
    """Baseline over challenger geometric mean restricted time, tested on log times; None without both."""
    if not base or not own:
        return None
    logs_base, logs_own = [math.log(v) for v in base], [math.log(v) for v in own]
    test = stats.welch(logs_base, logs_own)
    perm = stats.permutation_test(logs_base, logs_own)
    interval = None
    if test.interval is not None:
        interval = stats.Interval(math.exp(-test.interval.high), math.exp(-test.interval.low),
                                  "Welch t on log epochs").as_dict()
    if base_censored == len(base) and own_censored == len(own):
        bound = "neither reaches"
    elif own_censored and base_censored:
        bound = "both censored"
    elif own_censored:
        bound = "at most"
    elif base_censored:
        bound = "at least"
    else:
        bound = "estimate"
    return {"estimate": math.exp(-test.difference), "interval": interval, "bound": bound,
            "welch_p": test.p, "welch_df": test.df, "permutation_p": perm.p, "permutation_min_p": perm.min_p,
            "permutation_exact": perm.exact,
            "distinguishable": bound != "neither reaches" and stats.distinguishable(test, perm)}


# --------------------------------------------------------------------------- building

def horizons(runs: Sequence[Run], statuses: dict[str, Status]) -> tuple[Optional[int], Optional[float], int]:
    """(epochs, minutes, start): the budget every analysed run had, and the first epoch every one evaluated."""
    ends, minutes, starts = [], [], []
    for run in runs:
        curve = speed.fid_curve(run)
        if curve:
            starts.append(curve[0].epoch)
        if statuses[run.name].state == "finished":
            ends.append(run.last_epoch)
            seconds = run.rows[-1].get("train_seconds")
            if seconds is not None:
                minutes.append(seconds / 60)
        else:
            ends.append(run.budget_epochs if run.budget_epochs is not None else run.last_epoch)
    ends = [e for e in ends if e is not None]
    return (min(ends) if ends else None), (min(minutes) if minutes else None), (max(starts) if starts else 0)


def build_comparison(groups: Sequence[RunGroup], target_fid: Optional[float] = None) -> dict[str, Any]:
    """The comparison of ``groups`` (the first is the baseline) as a JSON-ready dict; see the module docstring."""
    everyone = [run for group in groups for run in group.runs]
    statuses = {run.name: run_status(run) for run in everyone}
    analysed = {g.label: [r for r in g.runs if statuses[r.name].analysed] for g in groups}
    pool = [run for g in groups for run in analysed[g.label]]
    metrics = metric_list(pool)
    horizon, horizon_minutes, start = horizons(pool, statuses)
    has_fid = any(speed.fid_curve(run) for run in pool)
    target = (speed.choose_target(analysed[groups[0].label], pool, target_fid) if has_fid
              else speed.Target(None, "none", "no run has FID values"))
    if target.value is not None and horizon is None:
        target = speed.Target(None, "none", "no run has a known budget")
    time_info = timing(pool)
    rgb = any(is_rgb(run) for run in pool)
    distinct = any(m.column == "distinct_nn" for m in metrics)

    out_groups = []
    for index, group in enumerate(groups):
        runs = analysed[group.label]
        per_run = []
        for run in group.runs:
            status = statuses[run.name]
            entry: dict[str, Any] = {"name": run.name, "seed": run.seed, "status": status.state,
                                     "detail": status.detail, "last_epoch": run.last_epoch,
                                     "budget_epochs": run.budget_epochs, "fid_samples": run.metric_samples,
                                     "metrics": {}}
            for metric in metrics:
                value, epoch = run_value(run, metric)
                entry["metrics"][metric.key] = value
                entry["metrics"][f"{metric.key}_epoch"] = epoch
            if status.analysed and target.value is not None:
                cross = speed.crossing(run, target.value, horizon)
                # In minutes the horizon is the shortest run's training time: a seed crossing later (a
                # slower route to the same epochs) is censored there, not counted as reaching it.
                late = cross.minutes is None or (horizon_minutes is not None and cross.minutes > horizon_minutes)
                entry["crossing"] = {"epoch": cross.epoch, "minutes": cross.minutes, "censored": cross.censored,
                                     "censored_minutes": cross.censored or late}
                entry["restricted_epochs"] = cross.restricted(horizon)
                entry["restricted_minutes"] = cross.restricted_minutes(horizon_minutes)
            else:
                entry["crossing"], entry["restricted_epochs"], entry["restricted_minutes"] = None, None, None
            entry["curve_area"] = (speed.curve_area(run, start, horizon)
                                   if status.analysed and horizon is not None else None)
            if distinct:
                entry["distinct_nn_relative"] = collapse.distinct_state(
                    entry["metrics"].get("final_distinct_nn"), run.real_reference.get("distinct_nn"))
            per_run.append(entry)
        used = [e for e in per_run if statuses[e["name"]].analysed]
        summary = {
            "label": group.label, "model": group.model, "baseline": index == 0,
            "seeds_asked": len(group.runs), "seeds_finished": sum(e["status"] == "finished" for e in per_run),
            "seeds_analysed": len(used), "runs": per_run,
            "metrics": {m.key: measured_stat(runs, [e["metrics"][m.key] for e in used]) for m in metrics},
            "speed": None,
            "collapse": [c.as_dict() for c in collapse.collapses(runs)],
        }
        if target.value is not None:
            summary["speed"] = {
                "reached": sum(1 for e in used if e["crossing"] and not e["crossing"]["censored"]),
                "reached_minutes": sum(1 for e in used if e["crossing"] and not e["crossing"]["censored_minutes"]),
                "of": len(used),
                "restricted_epochs": measured_stat(runs, [e["restricted_epochs"] for e in used]),
                "restricted_minutes": measured_stat(runs, [e["restricted_minutes"] for e in used]),
                "crossing_epochs": measured_stat(runs, [e["crossing"]["epoch"] for e in used]),
            }
        summary["curve_area"] = measured_stat(runs, [e["curve_area"] for e in used])
        if distinct:
            summary["distinct_nn_relative"] = measured_stat(runs, [e["distinct_nn_relative"] for e in used])
        if rgb:
            summary["saturation"] = measured_stat(runs, [last_grid_saturation(run) if is_rgb(run) else None
                                                         for run in runs])
        out_groups.append(summary)

    baseline = out_groups[0]
    challengers = []
    for summary in out_groups[1:]:
        entry: dict[str, Any] = {"label": summary["label"], "versus": baseline["label"], "metrics": {}}
        for metric in metrics:
            base_values = baseline["metrics"][metric.key]["values"]
            own_values = summary["metrics"][metric.key]["values"]
            entry["metrics"][metric.key] = contrast(base_values, own_values, metric.better)
        entry["curve_area"] = contrast(baseline["curve_area"]["values"], summary["curve_area"]["values"], "lower")
        entry["speedup_epochs"] = entry["speedup_minutes"] = None
        if target.value is not None:
            def censored(group: dict[str, Any], unit: str = "") -> int:
                return group["speed"]["of"] - group["speed"]["reached" + unit]

            entry["speedup_epochs"] = speedup(baseline["speed"]["restricted_epochs"]["values"],
                                              summary["speed"]["restricted_epochs"]["values"],
                                              censored(baseline), censored(summary))
            if time_info["comparable"] and horizon_minutes:
                entry["speedup_minutes"] = speedup(baseline["speed"]["restricted_minutes"]["values"],
                                                   summary["speed"]["restricted_minutes"]["values"],
                                                   censored(baseline, "_minutes"), censored(summary, "_minutes"))
        challengers.append(entry)

    floors = {}
    for column in ("precision", "recall", "coverage"):
        key = f"final_{column}"
        if any(m.key == key for m in metrics):
            state = collapse.floor_state([v for g in out_groups for v in g["metrics"][key]["values"]])
            if state:
                floors[column] = state
    return clean({
        "schema": SCHEMA,
        "baseline": baseline["label"],
        "target_fid": target.as_dict(),
        "horizon": {"epochs": horizon, "minutes": horizon_minutes, "start_epoch": start},
        "timing": time_info,
        "methods": {"confidence": stats.CONFIDENCE, "alpha": stats.ALPHA,
                    "interval": f"{stats.CONFIDENCE:.0%} Student-t interval of the mean over seeds",
                    "test": "Welch's t test, checked by an exact permutation test over seeds where that can reach "
                            "alpha; each comparison on its own, not corrected for their number",
                    "speedup": "baseline over challenger, ratio of geometric mean epochs to the target, seeds that "
                               "do not reach it counted at the horizon; Welch's t on log epochs",
                    "curve_area": "integral of log FID over the horizon's epochs (trapezoids); lower is better"},
        "metrics": [{"key": m.key, "column": m.column, "kind": m.kind, "better": m.better} for m in metrics],
        "uninformative": floors,
        "real_reference": real_reference(pool),
        "groups": out_groups,
        "challengers": challengers,
    })


def real_reference(runs: Sequence[Run]) -> Optional[dict[str, Any]]:
    """The first run's stored real-vs-real values with its name (``run``); None when no run stored any.

    Runs of one dataset and sample count store the same values; each run's own is used for its
    ``distinct_nn_relative``.
    """
    for run in runs:
        reference = run.real_reference
        if reference:
            return {"run": run.name, **reference}
    return None


def clean(value: Any) -> Any:
    """The dict with every non-finite float replaced by None, so that the JSON holds no NaN or Infinity."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_comparison(comparison: dict[str, Any], path: Path) -> Path:
    from igan.io.files import atomic_write

    return atomic_write(path, json.dumps(comparison, indent=1, allow_nan=False) + "\n")
