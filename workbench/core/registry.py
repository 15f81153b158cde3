"""Adding to a registry by name (backbones, dataset kinds): once per name, so a clash cannot go unnoticed."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def register_once(registry: dict[str, T], name: str, entry: T, what: str) -> T:
    """Add ``entry`` under ``name``; a second entry under a taken name is a mistake, not a replacement."""
    if name in registry:
        raise ValueError(f"a {what} named {name!r} is already registered")
    registry[name] = entry
    return entry
