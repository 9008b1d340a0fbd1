"""``real_reference.json``: what the metrics callback writes is what reports read back."""

from __future__ import annotations

import json

import pytest

from igan.metrics.real_reference import REFERENCE_FILE, read_real_reference, write_real_reference

REFERENCE = {"precision": 0.71, "recall": 0.69, "density": 0.98, "coverage": 0.93, "num_each": 128}


def test_written_reference_reads_back_with_the_k_it_was_computed_with(tmp_path):
    path = write_real_reference(tmp_path / "run" / REFERENCE_FILE, REFERENCE)
    assert json.loads(path.read_text()) == {**REFERENCE, "precision_recall_k": 3, "density_coverage_k": 5}
    assert read_real_reference(tmp_path / "run") == {**REFERENCE, "precision_recall_k": 3.0, "density_coverage_k": 5.0}
    assert [p.name for p in path.parent.iterdir()] == [REFERENCE_FILE]  # no temporary file left


def test_values_under_a_metrics_key_are_read_and_other_entries_left_out(tmp_path):
    (tmp_path / REFERENCE_FILE).write_text('{"metrics": {"precision": 0.5, "recall": 1, "note": "x", "ok": true}}')
    assert read_real_reference(tmp_path) == {"precision": 0.5, "recall": 1.0}


def test_a_run_without_the_file_has_no_reference(tmp_path):
    assert read_real_reference(tmp_path) == {}


def test_a_file_that_is_not_json_is_named(tmp_path):
    (tmp_path / REFERENCE_FILE).write_text("{half a file")
    with pytest.raises(ValueError, match=f"{tmp_path / REFERENCE_FILE}: not readable JSON"):
        read_real_reference(tmp_path)
