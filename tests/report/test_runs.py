"""Reading a run folder for reports: the real-vs-real reference beside metrics.csv."""

from __future__ import annotations

import warnings

from igan.metrics.real_reference import REFERENCE_FILE, write_real_reference
from igan.report.runs import Run

REFERENCE = {"precision": 0.71, "recall": 0.69, "density": 0.98, "coverage": 0.93, "num_each": 128}


def test_a_report_keeps_the_four_scores_and_warns_about_an_unreadable_file(tmp_path):
    write_real_reference(tmp_path / "good" / REFERENCE_FILE, REFERENCE)
    good = Run(name="good", path=tmp_path / "good", rows=[])
    assert good.real_reference == {k: REFERENCE[k] for k in ("precision", "recall", "density", "coverage")}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / REFERENCE_FILE).write_text("{half a file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Run(name="bad", path=tmp_path / "bad", rows=[]).real_reference == {}
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'bad' / REFERENCE_FILE}: not readable JSON; the real-vs-real reference is left out"]
