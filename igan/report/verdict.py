"""The paragraph under the comparison table: what the statistics support, rendered from ``comparison.json``'s dict.

It always names the baseline and says how many of each model's seeds came to their end. Each
challenger is set against the baseline with a test (Welch's t, checked by a permutation test; see
:mod:`igan.report.stats`): a difference is called one only when the test says so, otherwise
"not distinguishable at n vs m seeds". Speed is read against the fixed target with censored seeds
said as such ("2 of 3 seeds reach it"); FID is always qualified as best or final; per-minute
claims are made only when the runs' timings compare; a metric at its floor in every run is called
uninformative rather than agreeing with FID.
"""

from __future__ import annotations

from typing import Any, Optional

from igan.report import stats
from igan.report.collapse import COLLAPSE_DROP, COLLAPSE_METRICS, DISTINCT_COLLAPSED, FLOOR


def p_phrase(entry: dict[str, Any]) -> str:
    """"Welch p 0.012, permutation p 0.030" (with the permutation's floor where it cannot reach alpha)."""
    if entry["welch_p"] is None:
        return "no test possible"
    welch = "Welch p < 0.001" if entry["welch_p"] < 0.001 else f"Welch p {entry['welch_p']:.3f}"
    perm = f"permutation p {entry['permutation_p']:.3f}"
    if entry["permutation_min_p"] >= stats.ALPHA:
        perm += f", which cannot go below {entry['permutation_min_p']:.2f} here"
    return f"{welch}, {perm}"


def seeds_phrase(a: int, b: int) -> str:
    return f"{a} seeds each" if a == b else f"{a} vs {b} seeds"


def judged(entry: dict[str, Any], n_base: int, n_own: int, ahead: str, behind: str, positive_is_ahead: bool) -> str:
    """", distinguishable: X is ahead" or ", not distinguishable at 3 seeds each"."""
    if entry["welch_p"] is None:
        reason = "one seed" if min(n_base, n_own) < 2 else "no spread between seeds"
        return f" ({reason}: no test)"
    if not entry["distinguishable"]:
        return f" ({p_phrase(entry)}): not distinguishable at {seeds_phrase(n_base, n_own)}"
    value = entry.get("estimate", entry.get("difference"))
    good = (value > 1) if "estimate" in entry else ((value > 0) == positive_is_ahead)
    return f" ({p_phrase(entry)}): {ahead if good else behind} at {seeds_phrase(n_base, n_own)}"


def status_sentence(comparison: dict[str, Any]) -> str:
    groups = comparison["groups"]
    if all(g["seeds_finished"] == g["seeds_asked"] for g in groups):
        counts = ", ".join(f"{g['label']} {g['seeds_asked']}" for g in groups)
        return f"Every seed finished ({counts})."
    parts = []
    for group in comparison["groups"]:
        used = group["seeds_analysed"]
        role = "baseline " if group["baseline"] else ""
        text = f"{role}{group['label']}: {group['seeds_finished']} of {group['seeds_asked']} seeds finished"
        others = [f"{r['name']} {r['detail']}" for r in group["runs"] if r["status"] != "finished"]
        if others:
            text += f" ({'; '.join(others)}; {used} in the statistics)"
        parts.append(text)
    return "Seeds: " + "; ".join(parts) + "."


def reach_phrase(group: dict[str, Any], horizon: int) -> str:
    speed = group["speed"]
    if not speed["of"]:
        return f"{group['label']} has no seed to time"
    if speed["reached"] == 0:
        return f"{group['label']} reaches it in none of {speed['of']} seeds within {horizon} epochs"
    stat = speed["restricted_epochs"]
    if speed["of"] == 1:
        return f"{group['label']} reaches it at epoch {stat['mean']:.2f}"
    interval = stat["interval"]
    spread = "" if interval is None else f" [{interval['low']:.1f}, {interval['high']:.1f}]"
    restricted = " restricted to the budget" if speed["reached"] < speed["of"] else ""
    return (f"{group['label']} reaches it in {speed['reached']} of {speed['of']} seeds, mean epochs{restricted} "
            f"{stat['mean']:.2f}{spread}")


def speedup_phrase(entry: dict[str, Any], unit: str) -> str:
    if entry["bound"] == "neither reaches":
        return "neither reaches it"
    word = {"at most": "at most ", "at least": "at least "}.get(entry["bound"], "")
    interval = entry["interval"]
    spread = "" if interval is None else f" [{interval['low']:.2f}, {interval['high']:.2f}]"
    caveat = " (censored seeds on both sides: no bound)" if entry["bound"] == "both censored" else ""
    return f"speed-up per {unit} {word}{entry['estimate']:.2f}x{spread}{caveat}"


def speed_sentences(comparison: dict[str, Any]) -> list[str]:
    target, horizon = comparison["target_fid"], comparison["horizon"]["epochs"]
    if target["value"] is None:
        return [f"No speed comparison: {target['how']}."]
    groups = {g["label"]: g for g in comparison["groups"]}
    baseline = comparison["groups"][0]
    sentences = [f"Speed to FID {target['value']:.2f} (the target: {target['how']}), within {horizon} epochs: "
                 + "; ".join(reach_phrase(g, horizon) for g in comparison["groups"]) + "."]
    n_base = baseline["speed"]["of"]
    for challenger in comparison["challengers"]:
        group = groups[challenger["label"]]
        entry = challenger["speedup_epochs"]
        if entry is None:
            continue
        text = f"{challenger['label']} against {baseline['label']}: {speedup_phrase(entry, 'epoch')}"
        if entry["bound"] != "neither reaches":
            text += judged(entry, n_base, group["speed"]["of"], f"{challenger['label']} is faster",
                           f"{challenger['label']} is slower", True)
        area = challenger.get("curve_area")
        if area is not None and area["welch_p"] is not None:
            text += (f"; log-FID area {group['curve_area']['mean']:.1f} vs {baseline['curve_area']['mean']:.1f}"
                     + judged(area, baseline["curve_area"]["n"], group["curve_area"]["n"], "lower", "higher", False))
        sentences.append(text + ".")
    if comparison["timing"]["comparable"]:
        for challenger in comparison["challengers"]:
            entry = challenger["speedup_minutes"]
            if entry is not None and entry["bound"] != "neither reaches":
                sentences.append(f"Per minute, {challenger['label']} against {baseline['label']}: "
                                 f"{speedup_phrase(entry, 'minute')}"
                                 + judged(entry, n_base, groups[challenger['label']]["speed"]["of"],
                                          "faster", "slower", True) + ".")
    return sentences


def quality_sentence(comparison: dict[str, Any], key: str, name: str, digits: int = 2) -> Optional[str]:
    """Best (or final) FID, held-out L1 or SSIM of each model with its interval, and each challenger
    against the baseline (better meaning lower or higher as the metric says)."""
    groups = comparison["groups"]
    if not any(g["metrics"].get(key, {}).get("n") for g in groups):
        return None
    baseline = groups[0]

    def value(group: dict[str, Any]) -> str:
        stat = group["metrics"][key]
        if stat["mean"] is None:
            return f"{group['label']} -"
        interval = stat["interval"]
        spread = "" if interval is None else f" [{interval['low']:.{digits}f}, {interval['high']:.{digits}f}]"
        return f"{group['label']} {stat['mean']:.{digits}f}{spread}"

    text = f"{name}: " + ", ".join(value(g) for g in groups)
    parts = []
    for challenger, group in zip(comparison["challengers"], groups[1:]):
        entry = challenger["metrics"].get(key)
        if entry is None:
            continue
        parts.append(f"{challenger['label']} {entry['difference']:+.{digits}f}"
                     + judged(entry, baseline["metrics"][key]["n"], group["metrics"][key]["n"],
                              "better", "worse", entry.get("better") == "higher"))
    if parts:
        text += f"; against {baseline['label']}: " + "; ".join(parts)
    return text + "."


def collapse_sentence(comparison: dict[str, Any]) -> Optional[str]:
    keys = {m["key"] for m in comparison["metrics"]}
    measured = [m for m in COLLAPSE_METRICS if f"final_{m}" in keys]
    if not measured:
        return "Recall and coverage were not recorded, so a collapse cannot be read from these numbers."
    floors = comparison["uninformative"]
    sentences = []
    flat = [m for m in ("precision", *COLLAPSE_METRICS) if m in floors]
    if flat:
        level = " and ".join(f"final {m} {'0' if floors[m] == 'zero' else f'at most {FLOOR}'}" for m in flat)
        sentences.append(f"{level.capitalize()} in every run: uninformative at this quality, so they neither "
                         f"confirm nor contradict FID.")
    informative = [m for m in measured if m not in floors]
    if not informative:
        return " ".join(sentences)
    parts = []
    for group in comparison["groups"]:
        found = [c for c in group["collapse"] if c["metric"] in informative]
        if not found:
            continue
        worst = max(found, key=lambda c: c["metric_from"] - c["metric_to"])
        parts.append(f"for {group['label']} in {len(found)} of {group['seeds_analysed']} seeds (e.g. {worst['run']}: FID "
                     f"improves from {worst['fid_from']:.2f} at epoch {worst['from_epoch']} to {worst['fid_to']:.2f} at "
                     f"epoch {worst['to_epoch']} while {worst['metric']} falls from {worst['metric_from']:.3f} to "
                     f"{worst['metric_to']:.3f})")
    fallen = {c["metric"] for group in comparison["groups"] for c in group["collapse"]}
    names = "/".join(m for m in informative if m in fallen)
    if parts:
        sentences.append(f"FID and {names} disagree, a collapse that FID alone ranks as progress: "
                         + "; ".join(parts) + ".")
    else:
        sentences.append(f"In no run does {' or '.join(informative)} fall by {COLLAPSE_DROP} or more while FID "
                         f"improves.")
    return " ".join(sentences)


def distinct_sentence(comparison: dict[str, Any]) -> Optional[str]:
    """Each model's final distinct_nn as a fraction of its real-vs-real level, and which crowd onto few real images."""
    groups = [g for g in comparison["groups"] if (g.get("distinct_nn_relative") or {}).get("mean") is not None]
    if not groups:
        return None
    text = "Final distinct NN as a fraction of its real-vs-real level: " + ", ".join(
        f"{g['label']} {g['distinct_nn_relative']['mean']:.2f}" for g in groups)
    low = [g["label"] for g in groups if g["distinct_nn_relative"]["mean"] < DISTINCT_COLLAPSED]
    if low:
        return text + (f"; below {DISTINCT_COLLAPSED} for {', '.join(low)}: the samples crowd onto a few real images, "
                       f"a collapse (partial or whole) whatever FID says.")
    return text + f"; no model below {DISTINCT_COLLAPSED}."


def verdict(comparison: dict[str, Any]) -> str:
    """The paragraph, one line of text (markdown), from the comparison's numbers alone."""
    groups = comparison["groups"]
    sentences = [f"Baseline: {comparison['baseline']}.", status_sentence(comparison)]
    if len(groups) < 2:
        sentences.append("One model: nothing to compare it with.")
    elif all(g["seeds_analysed"] <= 1 for g in groups):
        sentences.append("One seed per model: no interval or test can be computed, so no difference below can be "
                         "told apart from seed-to-seed variation.")
    if len(groups) > 1:
        sentences += speed_sentences(comparison)
        if not comparison["timing"]["comparable"]:
            sentences.append(f"No per-minute claim: {comparison['timing']['reason']}.")
        for key, name in (("best_fid", "Best FID (each run's lowest)"), ("final_fid", "Final FID (last evaluation)")):
            sentence = quality_sentence(comparison, key, name)
            if sentence:
                sentences.append(sentence)
        # Translation: the held-out scores against the true glyphs say more than FID there.
        for key, name in (("best_l1", "Best held-out L1 (lower is better)"), ("final_l1", "Final held-out L1"),
                          ("best_ssim", "Best held-out SSIM (higher is better)"), ("final_ssim", "Final held-out SSIM")):
            sentence = quality_sentence(comparison, key, name, digits=4)
            if sentence:
                sentences.append(sentence)
    for sentence in (collapse_sentence(comparison), distinct_sentence(comparison)):
        if sentence:
            sentences.append(sentence)
    return " ".join(sentences) + "\n"
