"""The comparison table in markdown, rendered from ``comparison.json``'s dict (:mod:`igan.report.comparison`).

One row per model group, then the notes a reader needs to trust it: the baseline and the target,
the interval and test methods (and where the permutation test cannot reach 5%), how the speed is
measured, whether minutes compare, the sample counts, and every run that is not in the statistics.
A cell is a number, words, or "-": never nan or inf.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from igan.report import stats
from igan.report.collapse import DISTINCT_COLLAPSED, FLOOR
from igan.report.runs import Run

#: Collapse-aware metrics shown in the table (density is in the CSV and the JSON only).
TABLE_PRDC = ("precision", "recall", "coverage")
#: Below this many fake images KID uses one subset, the whole set (igan.metrics.evaluate): its std is 0.
KID_SUBSET_SIZE = 1000


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_epochs(value: float) -> str:
    """Epochs with one decimal, more significant digits below 0.1 (a crossing is never shown as 0)."""
    return f"{value:.2g}" if value < 0.1 else f"{value:.1f}"


def interval_text(stat: dict[str, Any], digits: int, scale: float = 1.0) -> str:
    interval = stat["interval"]
    if interval is None:
        return ""
    return f" [{interval['low'] * scale:.{digits}f}, {interval['high'] * scale:.{digits}f}]"


def mean_interval(stat: dict[str, Any], digits: int = 2) -> str:
    """"mean [low, high]" over seeds; a lone value alone."""
    if stat["mean"] is None:
        return "-"
    return f"{stat['mean']:.{digits}f}{interval_text(stat, digits)}"


def mean_sd(stat: Optional[dict[str, Any]], digits: int = 2, scale: float = 1.0) -> str:
    """"mean ± sd" over seeds; a lone value alone (never a "± 0.00" that means nothing)."""
    if stat is None or stat["mean"] is None:
        return "-"
    text = f"{stat['mean'] * scale:.{digits}f}"
    if stat["sd"] is not None:
        text += f" ± {stat['sd'] * scale:.{digits}f}"
    return text


def p_text(p: Optional[float]) -> str:
    if p is None:
        return "no test"
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def seeds_cell(group: dict[str, Any]) -> str:
    """"3 (0, 1, 2)", or "2 of 3 (0, 1)" when seeds did not come to their end; diverged ones named."""
    used = [r for r in group["runs"] if r["status"] in ("finished", "diverged")]
    seeds = [str(r["seed"]) for r in used if r["seed"] is not None]
    listed = f" ({', '.join(seeds)})" if len(seeds) == len(used) and seeds else ""
    count = str(len(used)) if len(used) == group["seeds_asked"] else f"{len(used)} of {group['seeds_asked']}"
    diverged = sum(r["status"] == "diverged" for r in used)
    return count + listed + (f", {diverged} diverged" if diverged else "")


def reach_cell(group: dict[str, Any], horizon: int, unit: str = "epochs") -> str:
    """Restricted mean epochs (minutes) to the target with its interval, and how many seeds reach it."""
    speed = group["speed"]
    if speed is None or not speed["of"]:
        return "-"
    stat = speed["restricted_epochs" if unit == "epochs" else "restricted_minutes"]
    reached = speed["reached" if unit == "epochs" else "reached_minutes"]
    if stat["mean"] is None:
        return "-"
    if reached == 0:
        return f"none of {speed['of']} within {horizon}" if unit == "epochs" else f"none of {speed['of']}"
    digits = 1
    value = fmt_epochs(stat["mean"]) if unit == "epochs" else f"{stat['mean']:.{digits}f}"
    text = value + interval_text(stat, digits)
    if speed["of"] > 1:
        text += f"; {reached} of {speed['of']} reach"
    return text


def speedup_cell(entry: Optional[dict[str, Any]]) -> str:
    if entry is None:
        return "-"
    if entry["bound"] == "neither reaches":
        return "neither reaches"
    prefix = {"at most": "≤ ", "at least": "≥ "}.get(entry["bound"], "")
    text = f"{prefix}{entry['estimate']:.2f}x"
    if entry["interval"] is not None:
        text += f" [{entry['interval']['low']:.2f}, {entry['interval']['high']:.2f}]"
    text += f", {p_text(entry['welch_p'])}" if entry["welch_p"] is not None else " (no test)"
    return text


def area_cell(group: dict[str, Any], challenger: Optional[dict[str, Any]]) -> str:
    text = mean_sd(group["curve_area"], 1)
    if challenger is not None and challenger.get("curve_area") and challenger["curve_area"]["welch_p"] is not None:
        text += f", {p_text(challenger['curve_area']['welch_p'])}"
    return text


def kid_cell(group: dict[str, Any], runs: dict[str, Run]) -> str:
    """Best KID x1e3: mean ± sd over seeds, or one run's KID ± its subsets' std where that means something."""
    kid = group["metrics"].get("best_kid")
    if kid is None:
        return "-"
    if kid["n"] == 1:
        run = next((runs[r["name"]] for r in group["runs"] if r["metrics"].get("best_kid") is not None), None)
        row = None if run is None else run.row(next(r["metrics"]["best_kid_epoch"] for r in group["runs"]
                                                   if r["metrics"].get("best_kid") is not None))
        if row is not None and kid_std_meaningful(run, row.get("kid_std")):
            return f"{kid['mean'] * 1e3:.2f} ± {row['kid_std'] * 1e3:.2f}"
    return mean_sd(kid, 2, 1e3)


def distinct_cell(group: dict[str, Any]) -> str:
    """Final distinct_nn, mean ± sd, with its mean fraction of the runs' real-vs-real value: "0.21 ± 0.03 (0.40)"."""
    text = mean_sd(group["metrics"].get("final_distinct_nn"), 3)
    relative = group.get("distinct_nn_relative")
    if text != "-" and relative is not None and relative["mean"] is not None:
        text += f" ({relative['mean']:.2f})"
    return text


def kid_std_meaningful(run: Run, kid_std: Optional[float]) -> bool:
    """KID's std says something only when it is > 0 and came from several subsets.

    With N <= 1000 fake images KID uses one subset, the whole set, and its std is 0 by
    construction; an unknown N is judged by the value alone.
    """
    if kid_std is None or not kid_std > 0:
        return False
    samples = run.metric_samples
    return samples is None or samples > KID_SUBSET_SIZE


def minutes(row: Optional[dict[str, Any]]) -> Optional[float]:
    return None if row is None or row.get("train_seconds") is None else row["train_seconds"] / 60


def shown_metrics(comparison: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(key, header, digits) of the per-metric columns some group has."""
    keys = {m["key"] for m in comparison["metrics"]}
    columns = [(f"final_{c}", f"final {c}", 3) for c in TABLE_PRDC if f"final_{c}" in keys]
    columns += [("final_distinct_nn", "final distinct NN (of real)", 3)] if "final_distinct_nn" in keys else []
    columns += [(k, h, 3) for k, h in (("final_diversity", "final diversity"), ("final_l1", "final held-out L1"),
                                       ("final_ssim", "final held-out SSIM")) if k in keys]
    columns += [(m["key"], f"final {m['column']}", 3) for m in comparison["metrics"]
                if m["column"].startswith(("l1_", "ssim_"))]
    return columns


def markdown_table(comparison: dict[str, Any], runs: Sequence[Run], skipped: Sequence[str] = ()) -> str:
    """The markdown table plus its notes."""
    groups, challengers = comparison["groups"], {c["label"]: c for c in comparison["challengers"]}
    by_name = {run.name: run for run in runs}
    target = comparison["target_fid"]["value"]
    horizon = comparison["horizon"]["epochs"]
    timed = comparison["timing"]["comparable"]
    keys = {m["key"] for m in comparison["metrics"]}
    extra = shown_metrics(comparison)
    header = ["model", "seeds", "generator", "epochs"]
    header += [h for k, h in (("best_fid", "best FID"), ("final_fid", "final FID"), ("best_kid", "best KID (x1e3)"))
               if k in keys]
    header += [h for _, h, _ in extra]
    if target is not None:
        header += [f"epochs to FID {target:.2f}", "speed-up (epochs)"]
        if timed:
            header += [f"minutes to FID {target:.2f}", "speed-up (time)"]
    if any(g["curve_area"]["n"] for g in groups):
        header.append("log-FID area")
    if "saturation" in groups[0]:
        header.append("saturation (last grid)")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(header) - 3)) + "|"]
    for group in groups:
        challenger = challengers.get(group["label"])
        last = [r["last_epoch"] for r in group["runs"] if r["last_epoch"] is not None]
        cells = [group["label"].replace("|", "\\|"), seeds_cell(group), group["model"],
                 str(max(last)) if last else "-"]
        if "best_fid" in keys:
            cells.append(mean_interval(group["metrics"]["best_fid"]))
        if "final_fid" in keys:
            cells.append(mean_interval(group["metrics"]["final_fid"]))
        if "best_kid" in keys:
            cells.append(kid_cell(group, by_name))
        cells += [distinct_cell(group) if k == "final_distinct_nn" else mean_sd(group["metrics"].get(k), digits)
                  for k, _, digits in extra]
        if target is not None:
            cells += [reach_cell(group, horizon), "1 (baseline)" if group["baseline"]
                      else speedup_cell(challenger["speedup_epochs"])]
            if timed:
                cells += [reach_cell(group, horizon, "minutes"), "1 (baseline)" if group["baseline"]
                          else speedup_cell(challenger["speedup_minutes"])]
        if "log-FID area" in header:
            cells.append(area_cell(group, challenger))
        if "saturation" in group:
            cells.append(mean_sd(group["saturation"], 3))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += notes(comparison, runs, skipped)
    return "\n".join(lines) + "\n"


def permutation_floor_note(comparison: dict[str, Any]) -> Optional[str]:
    """Where the permutation test cannot reach alpha at the seed counts compared (e.g. 0.10 at 3 vs 3)."""
    floors = set()
    for challenger in comparison["challengers"]:
        for entry in [challenger["speedup_epochs"], challenger["curve_area"], *challenger["metrics"].values()]:
            if entry and entry["welch_p"] is not None and entry["permutation_min_p"] >= stats.ALPHA:
                floors.add(entry["permutation_min_p"])
    if not floors:
        return None
    listed = ", ".join(f"{p:.2f}" for p in sorted(floors))
    return (f"With these seed counts the permutation test's smallest possible p is {listed}: it cannot reach "
            f"{stats.ALPHA}, so there Welch's test decides alone.")


def notes(comparison: dict[str, Any], runs: Sequence[Run], skipped: Sequence[str]) -> list[str]:
    target, horizon = comparison["target_fid"], comparison["horizon"]
    lines = [f"Baseline: {comparison['baseline']} (the first given)."]
    if target["value"] is None:
        lines.append(f"No speed comparison: {target['how']}.")
    else:
        lines.append(f"Target: FID {target['value']:.2f}, {target['how']}; fixed before the other models are looked at. A seed reaches it where "
                     f"its FID curve first crosses it, interpolated on log FID between evaluations; one that does "
                     f"not within the horizon ({horizon['epochs']} epochs, the budget every compared run had) is "
                     f"censored and counted at the horizon (a restricted mean: with censored seeds a lower bound "
                     f"of the mean). Speed-up = the baseline's geometric mean epochs to the target / the model's, "
                     f"\"≤\" where the model has censored seeds (an upper bound), \"≥\" where the baseline has.")
    lines.append(f"Best: the lowest FID and KID (highest precision, recall, coverage, distinct NN) over a run's "
                 f"evaluations; final: "
                 f"its last evaluation. [low, high]: {stats.CONFIDENCE:.0%} Student-t interval of the mean over seeds "
                 f"(none with one seed); ± is the seeds' sample standard deviation. p: Welch's t test against the "
                 f"baseline (on log epochs for the speed-up); a difference is claimed only at p < {stats.ALPHA} and, "
                 f"where it can reach that, an exact permutation test over seeds agreeing.")
    floor = permutation_floor_note(comparison)
    if floor:
        lines.append(floor)
    if any(g["curve_area"]["n"] for g in comparison["groups"]):
        lines.append(f"Log-FID area: the integral of log FID over epochs {horizon['start_epoch']} to "
                     f"{horizon['epochs']} per seed (lower is better: sooner and lower at once; nothing censored).")
    if comparison["timing"]["comparable"]:
        lines.append(f"Times: train_seconds from metrics.csv (evaluation excluded); comparable: "
                     f"{comparison['timing']['reason']}.")
    else:
        lines.append(f"No per-minute comparison: {comparison['timing']['reason']}. The minutes are in "
                     f"comparison.json.")
    lines.append("Best KID: with one seed, ± is the std over KID subsets, shown only when several subsets were "
                 f"used (more than {KID_SUBSET_SIZE} samples).")
    lines.append(sample_count_note(runs))
    keys = {m["key"] for m in comparison["metrics"]}
    if any(f"final_{c}" in keys for c in TABLE_PRDC):
        lines.append("Precision, recall (k=3) and coverage (k=5) at the last evaluation: recall or coverage "
                     "falling while FID improves is a collapse FID alone misses.")
        for column, state in comparison["uninformative"].items():
            level = "0" if state == "zero" else f"at most {FLOOR}"
            lines.append(f"Final {column} is {level} in every run: uninformative at this quality.")
    if "final_distinct_nn" in keys:
        lines.append("Distinct NN: the distinct real images that are some generated sample's nearest neighbour (in "
                     "Inception features) over the generated samples, at the last evaluation; in brackets its mean "
                     "fraction of the same measure for real images against real images (near 1: spread like the "
                     f"data; below {DISTINCT_COLLAPSED}: crowding onto a few real images, a collapse, partial or "
                     "whole).")
    if any(f"final_{c}" in keys for c in (*TABLE_PRDC, "distinct_nn")):
        reference = real_reference_note(comparison)
        if reference:
            lines.append(reference)
    if "saturation" in comparison["groups"][0]:
        lines.append("Saturation: mean HSV saturation (max-min)/max of the sample pixels of each run's last grid, "
                     "grid padding excluded (real data, grayscale 0).")
    if "final_diversity" in keys:
        lines.append("Diversity: per-pixel std across the fixed-noise samples, averaged over pixels; it does not tell "
                     "partial collapse (a few glyphs repeated) or noise from health"
                     + (" (distinct NN does)." if "final_distinct_nn" in keys else "."))
    if "final_l1" in keys:
        lines.append("Held-out L1 (lower is better) and SSIM (higher is better): translations of characters kept out "
                     "of training against their true glyphs; per-style columns l1_<style>, ssim_<style>.")
    left_out = [f"{r['name']}: {r['detail']}" for g in comparison["groups"] for r in g["runs"]
                if r["status"] not in ("finished",)]
    if left_out:
        diverged = any("diverged" in entry for entry in left_out)
        lines.append("Runs not finished: " + "; ".join(left_out) + "." + (
            " Diverged runs are in the statistics (best values and speed up to the divergence, no final values)."
            if diverged else "") + " Running, unfinished and failed runs are not in the statistics.")
    lines += [f"Not plotted: no run has {metric} values." for metric in skipped]
    return lines


def real_reference_note(comparison: dict[str, Any]) -> Optional[str]:
    """The real-vs-real level of the metrics, from the first run that stored it (comparison.json's ``real_reference``)."""
    reference = comparison.get("real_reference")
    if not reference:
        return None
    values = ", ".join(f"{k} {reference[k]:.2f}" if k == "fid" else f"{k} {reference[k]:.3f}"
                       for k in ("fid", *TABLE_PRDC, "density", "distinct_nn") if k in reference)
    size = f"{int(reference['n'])} against {int(reference['n'])}" if "n" in reference else "two disjoint sets"
    return f"Real vs real (two disjoint sets of real images, {size}, from {reference['run']}): {values}."


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


def flat_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """The groups as flat rows of numbers (for a W&B table): means, sds, interval ends, speed-ups."""
    rows = []
    challengers = {c["label"]: c for c in comparison["challengers"]}
    for group in comparison["groups"]:
        row: dict[str, Any] = {"model": group["label"], "generator": group["model"],
                               "seeds_asked": group["seeds_asked"], "seeds_finished": group["seeds_finished"]}
        stats_of = dict(group["metrics"], curve_area=group["curve_area"])
        if "distinct_nn_relative" in group:
            stats_of["distinct_nn_relative"] = group["distinct_nn_relative"]
        if group["speed"] is not None:
            stats_of["restricted_epochs"] = group["speed"]["restricted_epochs"]
            row["seeds_reaching"] = group["speed"]["reached"]
        for key, value in stats_of.items():
            interval = value["interval"]
            row[f"{key}_mean"], row[f"{key}_sd"] = value["mean"], value["sd"]
            row[f"{key}_low"] = None if interval is None else interval["low"]
            row[f"{key}_high"] = None if interval is None else interval["high"]
        challenger = challengers.get(group["label"])
        speed = None if challenger is None else challenger["speedup_epochs"]
        row["speedup_epochs"] = 1.0 if group["baseline"] else (None if speed is None else speed["estimate"])
        row["speedup_epochs_p"] = None if speed is None else speed["welch_p"]
        rows.append(row)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return [{k: row.get(k) for k in keys} for row in rows]
