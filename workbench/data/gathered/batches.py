"""One batch of images into a class: each re-encoded, exact copies refused, the rest written as capture sessions.

A batch is one upload or one camera burst, hence one session; an import whose file names carry no sessions is
split into sessions by likeness (chains of near-copies), so that a folder of separate photos splits freely while a
burst inside it stays whole. The shelf (`workbench.data.gathered.shelf`) calls this outside its lock and moves the
written files into place under it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from workbench.core.files import write_atomically
from workbench.data.decode import ImageRefused
from workbench.data.gathered.checks import likeness_groups
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.manifest import SESSION_MARK, session_of
from workbench.data.gathered.reencode import SUFFIX, reencode


@dataclass
class Added:
    """One batch: how many images it added, the sessions they make, and one line for each file refused."""

    added: int = 0
    sessions: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @classmethod
    def total(cls, batches: list[Added]) -> Added:
        """Several batches (an import's) as one account."""
        return cls(sum(b.added for b in batches), [s for b in batches for s in b.sessions],
                   [line for b in batches for line in b.refused])


def by_session(files: list[tuple[str, bytes]]) -> dict[str | None, list[tuple[str, bytes]]]:
    """An import's files, one batch per session its names carry (an exported dataset keeps its sessions); files
    named any other way are one batch under ``None`` (sessions found by likeness)."""
    batches: dict[str | None, list[tuple[str, bytes]]] = {}
    for file_name, data in files:
        named = SESSION_MARK in Path(str(file_name)).stem
        batches.setdefault(session_of(Path(str(file_name))) if named else None, []).append((file_name, data))
    return batches


def new_session(kind: str) -> str:
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}"



def encode_batch(dataset: GatheredDataset, class_name: str, files: list[tuple[str, bytes]], kind: str, into: Path,
                 by_likeness: bool = False) -> tuple[Added, dict[str, dict[str, str]]]:
    """Encode ``files`` into ``into`` as a new session of ``class_name`` (a burst, an upload); with
    ``by_likeness`` (an import whose file names carry no sessions) as one session per group of near-copies, so
    that a folder of separate photos splits freely while a burst inside it stays whole. Returns the account and
    each written file's hashes."""
    added = Added()
    seen = {entry.get("digest"): key for key, entry in dataset.hashes.items()}
    kept = []
    for number, (file_name, data) in enumerate(files, 1):
        shown = Path(str(file_name)).name or f"file {number}"
        try:
            encoded = reencode(data, shown)
        except ImageRefused as refused:
            added.refused.append(str(refused))
            continue
        if encoded.digest in seen:
            added.refused.append(f"{shown} is the same picture as {seen[encoded.digest]} in "
                                 f"{dataset.name!r}; skipped")
            continue
        seen[encoded.digest] = f"{class_name}/{shown}"
        kept.append((number, encoded))
    groups = likeness_groups([encoded.phash for _, encoded in kept]) if by_likeness else [0] * len(kept)
    sessions = {group: new_session(kind) for group in dict.fromkeys(groups)}
    staged = {}
    for (number, encoded), group in zip(kept, groups):
        stored = f"{sessions[group]}{SESSION_MARK}{number:03d}{SUFFIX}"
        write_atomically(into / stored, lambda stream, data=encoded.data: stream.write(data))
        staged[stored] = {"digest": encoded.digest, "phash": encoded.phash}
    added.added, added.sessions = len(kept), list(sessions.values())
    return added, staged
