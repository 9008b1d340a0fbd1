"""The characters of igan font: a string or a chars file, in order, without whitespace or repeats."""

from __future__ import annotations

import pytest

from igan.errors import IganError
from igan.font.charsets import read_chars_file, unique_chars


def test_a_chars_file_is_its_characters_in_order_without_spaces_or_repeats(tmp_path):
    path = tmp_path / "chars.txt"
    path.write_text("永字 八法\n永\t天地\n", encoding="utf-8")
    assert read_chars_file(path) == unique_chars("永字八法永天地") == "永字八法天地"


@pytest.mark.parametrize("content, says", [(None, "does not exist"), (b"\xff\xfe\xfa", "is not UTF-8 text")])
def test_an_unreadable_chars_file_is_one_error(content, says, tmp_path):
    path = tmp_path / "chars.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(IganError, match=says):
        read_chars_file(path)
