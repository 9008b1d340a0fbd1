"""The characters of a font: from a text file or a string (GB2312 level 1 is
:func:`igan.data.calligraphy.gb2312_level1`, the set the datasets render)."""

from __future__ import annotations

from pathlib import Path

from igan.errors import IganError


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
