"""Names a student types for a dataset or a class: checked once, here, before they become folders.

A name becomes a folder under the run folder and appears on other students' pages, so it may hold only
letters (any script), digits, spaces and ``- _ . ( ) '`` — no slash, no markup, no leading dot, nothing that
a file system or a page would read as more than a name.
"""

from __future__ import annotations

import re
import unicodedata

from workbench.core.errors import DataError

MAX_LENGTH = 40
_ALLOWED = re.compile(r"[\w \-.()']+")


def checked_name(text: object, what: str) -> str:
    """``text`` as a folder name for a ``what`` ("dataset", "class"), tidied (spaces collapsed), or `DataError`."""
    name = " ".join(unicodedata.normalize("NFC", str(text or "")).split())
    if not name:
        raise DataError(f"give the {what} a name (letters, digits, spaces, - _ . ( ) ')")
    if len(name) > MAX_LENGTH:
        raise DataError(f"the {what} name {name[:MAX_LENGTH]!r}... is {len(name)} characters; use at most {MAX_LENGTH}")
    if not _ALLOWED.fullmatch(name) or name.startswith(".") or name in (".", ".."):
        raise DataError(f"the {what} name {name!r} may hold only letters, digits, spaces and - _ . ( ) ' "
                        f"(no slash, no markup, not starting with a dot); rename it")
    return name
