"""The characters of a font: GB2312 level 1 from the codec, a text file, or a string.

GB2312 level 1 is derived from Python's own ``gb2312`` codec rather than a list in the
repository: rows 0xB0..0xD7, cells 0xA1..0xFE, every cell that decodes (row 0xD7 ends at 0xF9).
"""

from __future__ import annotations

from pathlib import Path

from igan.errors import IganError

#: The number of characters GB2312 level 1 (the common hanzi, ordered by pinyin) holds.
GB2312_LEVEL1_SIZE = 3755


def gb2312_level1() -> str:
    """The 3,755 level-1 hanzi of GB2312 in code order."""
    chars = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            try:
                chars.append(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:  # the empty cells at the end of row 0xD7
                continue
    return "".join(chars)


def unique_chars(text: str) -> str:
    """The characters of ``text`` in order of first appearance, whitespace and repeats dropped."""
    return "".join(dict.fromkeys(c for c in text if not c.isspace()))


def read_chars_file(path: str | Path) -> str:
    """The characters of a UTF-8 text file (any layout: lines, spaces and repeats are ignored)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IganError(f"--chars-file {path} does not exist") from None
    except UnicodeDecodeError as err:
        raise IganError(f"--chars-file {path} is not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise IganError(f"cannot read --chars-file {path} ({err.strerror})") from None
    return unique_chars(text)
