"""``igan font`` / ``python -m igan.font``: a font from the command line, and one error line for bad requests."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import REPO, requires_kai_font
from fontTools.ttLib import TTFont
from PIL import Image
from translation.tiny_run import tiny_checkpoint

from igan.__main__ import main as igan_main
from igan.font.cli import main
from igan.models.dcgan import DCGANGenerator
from igan.models.spec import spec_of

pytestmark = requires_kai_font

STYLE = "LXGW WenKai"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, calligraphy_root):
    return tiny_checkpoint(tmp_path_factory, calligraphy_root)


@pytest.fixture(scope="module")
def gan_ckpt(tmp_path_factory):
    """An unconditional checkpoint as training writes it: a generator spec and its weights."""
    generator = DCGANGenerator(image_size=32, channels=1, latent_dim=8, width=8)
    path = tmp_path_factory.mktemp("gan") / "gan.ckpt"
    torch.save({"hyper_parameters": {"generator": spec_of(generator)},
                "state_dict": {f"generator.{k}": v for k, v in generator.state_dict().items()}}, path)
    return path


def test_chars_and_a_chars_file_write_the_same_font(ckpt, tmp_path, capsys):
    (tmp_path / "chars.txt").write_text("永字\n八法 永\n", encoding="utf-8")
    a, b = tmp_path / "a.ttf", tmp_path / "b.ttf"
    line = tmp_path / "line.png"
    assert main(["--ckpt", str(ckpt), "--style", STYLE, "--chars", "永字八法", "--out", str(a),
                 "--preview", str(line)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {a} (4 characters)", f"wrote {line}"]
    assert Image.open(line).size == (4 * 96 + 2 * 12, 96 + 2 * 12)  # four ems at 96 px, an eighth of one around
    assert igan_main(["font", "--ckpt", str(ckpt), "--style", "lxgw-wenkai", "--chars-file",
                      str(tmp_path / "chars.txt"), "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    font = TTFont(a)
    assert all(ord(c) in font.getBestCmap() for c in "永字八法")
    assert "run/last.ckpt" in font["name"].getDebugName(10)  # the run and the checkpoint file name the model


def test_skip_missing_names_the_characters_in_one_warning_line(ckpt, tmp_path, capsys):
    out = tmp_path / "a.ttf"
    assert main(["--ckpt", str(ckpt), "--style", STYLE, "--chars", "永\U00020000", "--skip-missing",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "lacks \U00020000" in warnings[0] and "Traceback" not in err
    assert 0x20000 not in TTFont(out).getBestCmap()


@pytest.mark.parametrize("case, args, says", [
    ("unknown style", ["--style", "No Such Kai", "--chars", "永"], "known styles: 'AR PL UKai CN', 'LXGW WenKai'"),
    ("empty chars", ["--style", STYLE, "--chars", "  "], "--chars holds no characters"),
    ("missing char", ["--style", STYLE, "--chars", "永\U00020000"], "lacks \U00020000"),
    ("gan checkpoint", ["--style", STYLE, "--chars", "永"], "unconditional (GAN) checkpoint"),
    ("not a ttf", ["--style", STYLE, "--chars", "永"], "must end in .ttf"),
    ("existing out", ["--style", STYLE, "--chars", "永"], "exists; pass --overwrite"),
    ("existing preview", ["--style", STYLE, "--chars", "永", "--preview"], "exists; pass --overwrite"),
    ("two char sources", ["--style", STYLE, "--chars", "永", "--gb2312-level1"], "not allowed with argument"),
    ("no char source", ["--style", STYLE], "one of the arguments --chars --chars-file --gb2312-level1 is required"),
    ("no chars file", ["--style", STYLE, "--chars-file", "nowhere.txt"], "does not exist"),
])
def test_bad_requests_are_one_error_line_exit_2_and_no_file(case, args, says, ckpt, gan_ckpt, tmp_path, capsys):
    out = tmp_path / ("hand.otf" if case == "not a ttf" else "hand.ttf")
    if case == "existing out":
        out.write_bytes(b"an older font")
    if case == "existing preview":
        args = [*args, str(tmp_path / "line.png")]
        (tmp_path / "line.png").write_bytes(b"an older font")
    checkpoint = gan_ckpt if case == "gan checkpoint" else ckpt
    assert main(["--ckpt", str(checkpoint), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], err
    if case.startswith("existing"):
        assert [p.read_bytes() for p in tmp_path.iterdir()] == [b"an older font"]
    else:
        assert not list(tmp_path.iterdir())


def test_python_m_igan_font_runs_the_command(ckpt, tmp_path):
    out = tmp_path / "hand.ttf"
    done = subprocess.run([sys.executable, "-m", "igan.font", "--ckpt", str(ckpt), "--style", STYLE,
                           "--chars", "天地", "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {ord("天"), ord("地")} <= set(TTFont(out).getBestCmap())
