"""The paragraph under the comparison table: what the numbers say, generated from them alone.

It names the model that reaches the speed target first per epoch and per minute and, against
each other model, the ratio of their epochs (minutes) with its bootstrap interval: an interval
that includes 1 is "not distinguishable at 3 seeds" (the paired ratio rather than the overlap
of the two models' own intervals, which would call real differences noise). It names the lowest
best FID, whose intervals are compared by overlap, and points out where FID and recall or
coverage disagree: FID improving while recall or coverage falls is a collapse (sharp but few
samples) that FID alone reports as progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from igan.report import stats
from igan.report.runs import Run, RunGroup
from igan.report.table import Stat

#: A fall of recall or coverage (both in [0, 1]) this large while FID improves counts as a collapse.
COLLAPSE_DROP = 0.1
COLLAPSE_METRICS = ("recall", "coverage")


@dataclass
class Collapse:
    """One run's FID improving from ``start`` to ``end`` while ``metric`` falls by ``drop``."""

    run: Run
    metric: str
    start: dict[str, Any]
    end: dict[str, Any]

    @property
    def drop(self) -> float:
        return self.start[self.metric] - self.end[self.metric]


def find_collapse(run: Run, metric: str, min_drop: float = COLLAPSE_DROP) -> Optional[Collapse]:
    """From the epoch of the run's highest ``metric`` to its last evaluation: FID lower, metric lower by ``min_drop``."""
    rows = [row for row in run.rows if isinstance(row.get("fid"), float) and isinstance(row.get(metric), float)]
    if len(rows) < 2:
        return None
    peak = max(rows, key=lambda row: (row[metric], -row["epoch"]))
    last = rows[-1]
    if last["epoch"] > peak["epoch"] and last["fid"] < peak["fid"] and peak[metric] - last[metric] >= min_drop:
        return Collapse(run, metric, peak, last)
    return None


def collapses(group: RunGroup) -> list[Collapse]:
    """Each run's largest collapse signal, over recall and coverage."""
    found = []
    for run in group.runs:
        signals = [c for c in (find_collapse(run, m) for m in COLLAPSE_METRICS) if c is not None]
        if signals:
            found.append(max(signals, key=lambda c: c.drop))
    return found


def seeds_phrase(a: int, b: int) -> str:
    return f"{a} seeds" if a == b else f"{a} and {b} seeds"


def interval_phrase(value: Stat, digits: int) -> str:
    if value.interval is None:
        return ""
    high = "never" if math.isinf(value.interval.high) else f"{value.interval.high:.{digits}f}"
    return f" [{value.interval.low:.{digits}f}, {high}]"


def reach_phrase(summary: dict[str, Any], key: str, digits: int, unit: str) -> str:
    value: Stat = summary[key]
    never = sum(math.isinf(v) for v in value.values)
    if never == value.n:
        return f"{summary['group']} never gets there"
    if never:
        return f"{summary['group']} never gets there in {never} of {value.n} seeds"
    digits = 0 if value.n == 1 and unit == "epochs" else digits
    return f"{summary['group']} after {value.mean:.{digits}f}{interval_phrase(value, digits)} {unit}"


def separation(leader: dict[str, Any], other: dict[str, Any], key: str) -> str:
    """Whether the leader's interval separates it from ``other``'s, in words."""
    a, b = leader[key], other[key]
    if a.interval is None or b.interval is None:
        return f"{other['group']}: one seed, so no interval, and the difference is not evidence"
    if a.interval.overlaps(b.interval):
        return f"{other['group']}: the intervals overlap, not distinguishable at {seeds_phrase(a.n, b.n)}"
    return f"{other['group']}: the intervals do not overlap, ahead at {seeds_phrase(a.n, b.n)}"


def versus(leader: dict[str, Any], others: Sequence[dict[str, Any]], key: str) -> str:
    """" Against X: ...; Y: ...." for each other model; empty when no model has an interval (said once already)."""
    if all(s[key].interval is None for s in [leader, *others]):
        return ""
    return " Against " + "; ".join(separation(leader, other, key) for other in others) + "."


def speed_versus(leader: dict[str, Any], other: dict[str, Any], key: str) -> str:
    """How much sooner the leader gets there than ``other``: the ratio of their mean epochs (minutes),
    other / leader, with its bootstrap interval; an interval above 1 separates them."""
    a, b = leader[key], other[key]
    never = sum(math.isinf(v) for v in b.values)
    if never == b.n:
        return f"{other['group']} never gets there"
    point = math.inf if never else stats.ratio(b.values, a.values)
    interval = stats.bootstrap_ratio(b.values, a.values)
    shown = "never" if point is None or math.isinf(point) else f"{point:.2f}x"
    if interval is None:
        return f"{other['group']}: {shown}, one seed, so no interval and the difference is not evidence"
    high = "never" if math.isinf(interval.high) else f"{interval.high:.2f}"
    if interval.low > 1:
        return f"{other['group']}: {shown} [{interval.low:.2f}, {high}], above 1, ahead at {seeds_phrase(a.n, b.n)}"
    return (f"{other['group']}: {shown} [{interval.low:.2f}, {high}], the interval includes 1, not distinguishable "
            f"at {seeds_phrase(a.n, b.n)}")


def speed_sentence(summaries: Sequence[dict[str, Any]], target: float, unit: str) -> str:
    """Who reaches the target first, per epoch or per minute, and how surely."""
    key, digits, word = ("reach_epochs", 1, "epochs") if unit == "epoch" else ("reach_minutes", 1, "minutes")
    timed = [s for s in summaries if s[key].n == len(s["runs"])]
    if len(timed) < len(summaries):
        missing = ", ".join(s["group"] for s in summaries if s not in timed)
        return f"Per {unit}: not compared, {missing} lacks training times."
    order = sorted(timed, key=lambda s: s[key].mean)
    leader = order[0]
    if len(order) > 1 and order[1][key].mean == leader[key].mean:
        tied = [s["group"] for s in order if s[key].mean == leader[key].mean]
        return f"Per {unit}, {' and '.join(tied)} tie: each reaches FID {target:.2f} after {leader[key].mean:.{digits}f} {word}."
    reached = "; ".join(reach_phrase(s, key, digits, word) for s in order)
    text = f"Per {unit}, {leader['group']} is ahead in reaching FID {target:.2f} ({reached})."
    if any(s[key].interval is not None for s in order):
        ratios = "; ".join(speed_versus(leader, other, key) for other in order[1:])
        text += f" {word.capitalize()} of the others / {leader['group']}'s: {ratios}."
    elif leader is not summaries[0]:
        ratio = leader[f"speedup_{'epochs' if unit == 'epoch' else 'minutes'}"]
        if ratio is not None:
            text += f" Speed-up over {summaries[0]['group']}: {ratio:.2f}x."
    return text


def quality_sentence(summaries: Sequence[dict[str, Any]]) -> Optional[str]:
    scored = [s for s in summaries if s["best_fid"].mean is not None]
    if len(scored) < 2:
        return None
    order = sorted(scored, key=lambda s: s["best_fid"].mean)
    leader = order[0]
    listed = ", ".join(f"{s['group']} {s['best_fid'].mean:.2f}{interval_phrase(s['best_fid'], 2)}" for s in order)
    return f"Lowest mean best FID: {leader['group']} ({listed}).{versus(leader, order[1:], 'best_fid')}"


def collapse_sentence(groups: Sequence[RunGroup]) -> str:
    measured = [g for g in groups if any(run.has(m) for run in g.runs for m in COLLAPSE_METRICS)]
    if not measured:
        return "Recall and coverage were not recorded, so a collapse cannot be read from these numbers."
    parts = []
    for group in measured:
        found = collapses(group)
        if not found:
            continue
        worst = max(found, key=lambda c: c.drop)
        parts.append(f"for {group.label} in {len(found)} of {len(group.runs)} seed{'s' if len(group.runs) > 1 else ''} "
                     f"(e.g. {worst.run.name}: FID improves from {worst.start['fid']:.2f} at epoch {worst.start['epoch']} "
                     f"to {worst.end['fid']:.2f} at epoch {worst.end['epoch']} while {worst.metric} falls from "
                     f"{worst.start[worst.metric]:.3f} to {worst.end[worst.metric]:.3f})")
    if not parts:
        return (f"FID and recall/coverage agree: in no run does recall or coverage fall by {COLLAPSE_DROP} or more "
                f"while FID improves.")
    return ("FID and recall/coverage disagree, a collapse that FID alone ranks as progress: "
            + "; ".join(parts) + ".")


def verdict(summaries: Sequence[dict[str, Any]], target: Optional[float], groups: Sequence[RunGroup]) -> str:
    """The paragraph, one line of text (markdown), from the table's numbers and the runs' rows."""
    sentences = []
    if len(summaries) < 2:
        sentences.append(f"One model ({summaries[0]['group']}): nothing to compare it with.")
    elif all(len(s["runs"]) == 1 for s in summaries):
        sentences.append("One seed per model: no interval can be computed, so no difference below can be "
                         "told apart from seed-to-seed variation.")
    if len(summaries) > 1:
        if target is None:
            sentences.append("No FID values: speed and quality are not compared.")
        else:
            sentences += [speed_sentence(summaries, target, "epoch"), speed_sentence(summaries, target, "minute")]
            quality = quality_sentence(summaries)
            if quality:
                sentences.append(quality)
    sentences.append(collapse_sentence(groups))
    return " ".join(sentences) + "\n"
