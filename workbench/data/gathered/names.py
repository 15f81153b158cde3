"""Names a student types for a dataset or a class: checked once, here, before they become folders.

A name becomes a folder under the run folder and appears on other students' pages, so it may hold only
letters (any script), digits, spaces and ``- _ . ( ) '`` — no slash, no markup, no leading dot, no invisible
letter, not the shelf's own file name: nothing that a file system or a page would read as more than a name.
"""

from __future__ import annotations

import unicodedata

from workbench.core.errors import DataError
from workbench.data.gathered.manifest import MANIFEST

MAX_LENGTH = 40
PUNCTUATION = set(" _-.()'")
_INVISIBLE = {"\u115f", "\u1160", "\u3164", "\uffa0"}  # Hangul fillers: letters to Python, blank on a page
RESERVED = {MANIFEST}  # the shelf's own file in a dataset's folder


def _allowed(name: str) -> bool:
    """Letters and digits of any script (with the accents and vowel signs that join them), and `PUNCTUATION`."""
    for before, c in zip(" " + name, name):
        if c in _INVISIBLE:
            return False
        if not (c.isalnum() or c in PUNCTUATION
                or (unicodedata.category(c) in ("Mn", "Mc") and (before.isalnum() or before != " "
                                                                 and unicodedata.category(before) in ("Mn", "Mc")))):
            return False
    return True


def checked_name(text: object, what: str) -> str:
    """``text`` as a folder name for a ``what`` ("dataset", "class"), tidied (spaces collapsed), or `DataError`."""
    name = " ".join(unicodedata.normalize("NFC", str(text or "")).split())
    if not name:
        raise DataError(f"give the {what} a name (letters, digits, spaces, - _ . ( ) ')")
    if len(name) > MAX_LENGTH:
        raise DataError(f"the {what} name {name[:MAX_LENGTH]!r}... is {len(name)} characters; use at most {MAX_LENGTH}")
    if not _allowed(name) or name.startswith(".") or name.lower() in RESERVED:
        raise DataError(f"the {what} name {name!r} may hold only letters, digits, spaces and - _ . ( ) ' "
                        f"(no slash, no markup, not starting with a dot); rename it")
    return name
