"""The character sets of igan font: GB2312 level 1 from the codec, a chars file."""

from __future__ import annotations

import pytest

from igan.errors import IganError
from igan.font.charsets import GB2312_LEVEL1_SIZE, gb2312_level1, read_chars_file, unique_chars


def test_gb2312_level1_is_the_3755_common_hanzi_in_code_order():
    chars = gb2312_level1()
    assert len(chars) == len(set(chars)) == GB2312_LEVEL1_SIZE == 3755
    assert chars[0] == "啊" and chars[-1] == "座"  # 0xB0A1 and 0xD7F9, the first and last level-1 cells
    assert all("\u4e00" <= c <= "\u9fff" for c in chars)  # every one a CJK unified ideograph
    codes = [c.encode("gb2312") for c in chars]
    assert codes == sorted(codes) and all(0xB0A1 <= int.from_bytes(b, "big") <= 0xD7F9 for b in codes)
    assert "永" in chars and "字" in chars and "丂" not in chars  # 丂 is GBK, not GB2312


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
