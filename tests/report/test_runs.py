"""Reading a run folder for reports: the real-vs-real reference beside metrics.csv."""

from __future__ import annotations

import warnings

from igan.metrics.real_reference import REFERENCE_FILE, write_real_reference
from igan.report.runs import Run

REFERENCE = {"precision": 0.71, "recall": 0.69, "density": 0.98, "coverage": 0.93, "num_each": 128}


def test_a_report_keeps_the_scores_and_their_size_and_warns_about_an_unreadable_file(tmp_path):
    write_real_reference(tmp_path / "good" / REFERENCE_FILE, REFERENCE)  # an older file: no fid, distinct_nn or n
    good = Run(name="good", path=tmp_path / "good", rows=[])
    assert good.real_reference == {**{k: REFERENCE[k] for k in ("precision", "recall", "density", "coverage")}, "n": 128}
    newer = {**REFERENCE, "fid": 21.5, "distinct_nn": 0.52, "n": 256, "num_each": 256}
    write_real_reference(tmp_path / "new" / REFERENCE_FILE, newer)
    assert Run(name="new", path=tmp_path / "new", rows=[]).real_reference == {
        k: newer[k] for k in ("fid", "precision", "recall", "density", "coverage", "distinct_nn", "n")}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / REFERENCE_FILE).write_text("{half a file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert Run(name="bad", path=tmp_path / "bad", rows=[]).real_reference == {}
    assert [str(w.message) for w in caught] == [
        f"{tmp_path / 'bad' / REFERENCE_FILE}: not readable JSON; the real-vs-real reference is left out"]
