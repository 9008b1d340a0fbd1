"""The attention benchmark runs end to end, times both paths, and leaves the model code as it was."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks import attention as bench  # noqa: E402


def test_one_row_per_side_and_the_block_restored(capsys):
    original = bench.blocks.twice_differentiable_attention
    bench.main(["--sides", "4", "8", "--batch", "2", "--channels", "8", "--repeats", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[2].strip() for row in rows] == ["16", "64"]  # queries
    assert [row.split("|")[3].strip() for row in rows] == ["4", "16"]  # keys, pooled 2x2
    assert all(row.split("|")[6].strip().endswith("x") for row in rows)  # a speed-up in every row
    assert bench.blocks.twice_differentiable_attention is original


def test_both_paths_are_timed_on_the_requested_block(monkeypatch, capsys):
    """Odd side 5 pooled 2x2 (ceil mode): 3x3 keys in both timed paths and in the keys column;
    --pool 1 --value-ratio 1: every position a key."""
    seen = {"math": [], "sliced": []}
    for name in seen:
        fn = getattr(bench, f"{name}_path")
        monkeypatch.setattr(bench, f"{name}_path",
                            lambda q, k, v, scale=None, fn=fn, name=name: seen[name].append(k.shape[-2]) or fn(q, k, v, scale))
    bench.main(["--sides", "5", "--batch", "2", "--channels", "8", "--repeats", "1", "--pool", "2"])
    assert set(seen["math"]) == set(seen["sliced"]) == {9}
    assert [row.split("|")[3].strip() for row in capsys.readouterr().out.splitlines() if row.startswith("| 5 ")] == ["9"]
    for calls in seen.values():
        calls.clear()
    bench.main(["--sides", "4", "--batch", "2", "--channels", "8", "--repeats", "1", "--pool", "1", "--value-ratio", "1"])
    assert set(seen["math"]) == set(seen["sliced"]) == {16}


def _graph_nodes(fn):
    seen, stack = set(), [fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(next_fn for next_fn, _ in node.next_functions)
    return {type(node).__name__ for node in seen}


def test_the_sliced_path_is_taken_whatever_the_size():
    import torch

    q, k, v = (torch.randn(2, 1, 8, 4, requires_grad=True) for _ in range(3))
    assert "_AttentionBackward" in _graph_nodes(bench.sliced_path(q, k, v).grad_fn)
    assert "_AttentionBackward" not in _graph_nodes(bench.math_path(q, k, v).grad_fn)
    assert bench.attention.MATH_PATH_MAX_BYTES["cpu"] > 0  # the shipped rule is restored
