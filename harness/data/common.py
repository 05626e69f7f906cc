"""What every suite loader shares: where vendored files live, how text files are read, the
"data not here" error, and the text normalisation used for train/eval overlap checks.

Reading goes through `read_text` so that every loader reports a missing file or bad encoding the
same way: as a `HarnessError` naming the file (and the line, for bad bytes).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from ..errors import HarnessError, SuiteUnavailable  # noqa: F401 (re-exported)

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"


def vendor_path(*parts: str) -> Path:
    """A path under harness/data/vendor/ (see PROVENANCE.md there for every file)."""
    return VENDOR_DIR.joinpath(*parts)


def read_text(path: Path) -> str:
    """UTF-8 text of `path` (a leading BOM is dropped); errors name the file and, for bad bytes, the line."""
    if path.is_dir():
        raise HarnessError(f"{path}: is a directory; expected a file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"{path}: file not found") from None
    except OSError as e:
        raise HarnessError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise HarnessError(f"{path}:{line}: not valid UTF-8 (byte {data[e.start]:#04x}); "
                           "save the file as UTF-8") from None


class _Blank(dict[int, int]):
    """str.translate table: punctuation, symbols, separators and controls → a space (filled lazily)."""

    def __missing__(self, code: int) -> int:
        self[code] = 32 if unicodedata.category(chr(code))[0] in "PSZC" else code
        return self[code]


_BLANK = _Blank()


@lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str:
    """Text reduced for overlap checks: NFKC, casefolded, punctuation and symbols removed, whitespace
    collapsed.

    Two prompts that differ only in width forms, case, punctuation or spacing normalise equal, so a
    training set cannot hide an evaluation prompt behind such a change. Punctuation becomes a space
    (not nothing), so "e-mail" and "e mail" agree.
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_BLANK)
    return " ".join(text.split())
