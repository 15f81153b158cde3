"""What `workbench runs --filter` and every listing may ask of the index: the columns, and values SQLite can compare."""

from __future__ import annotations

import math

from workbench.core.errors import RunStoreError

FILTERS = ("comparison_id", "role", "status", "backbone", "dataset", "freeze_depth", "lr", "seed", "pretrained",
           "fingerprint", "reused_from")


def where_clause(filters: dict) -> tuple[str, list]:
    """`` AND column IN (?, ...)`` for each filter, and the values to bind; a one-line error for a column or a
    value that cannot be asked for."""
    clauses, values = [], []
    for column, wanted in filters.items():
        if column not in FILTERS:
            raise RunStoreError(f"cannot filter runs by {column!r}; use one of {', '.join(FILTERS)}")
        wanted = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        for value in wanted:
            if not comparable(value):
                raise RunStoreError(f"cannot filter runs by {column} = {str(value)[:40]}; give one number, word, "
                                    f"true or false (repeat the filter for several values)")
        clauses.append(f" AND {column} IN ({', '.join('?' * len(wanted))})")
        values += wanted
    return "".join(clauses), values


def comparable(value) -> bool:
    """A value a column can be compared with: SQLite takes 64-bit integers, finite floats, text and NULL."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, str):
        try:
            value.encode("utf-8")  # a lone surrogate (bytes the terminal could not decode) cannot be bound
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, int):
        return -2**63 <= value < 2**63
    return isinstance(value, float) and not math.isnan(value)
