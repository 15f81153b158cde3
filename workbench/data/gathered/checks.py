"""Before a home-made dataset trains: enough sessions per class for honest splits, and the near-copies it holds.

Frames of one camera burst are near-copies, so the splits keep each session whole (`workbench.data.splits`); a
class then needs three sessions at least, one each for training, validation and test. A perceptual hash
(`imagehash.phash`, 64 bits) finds near-copies that the sessions cannot: two bursts of the same object in the same
pose that land in different splits (the test then measures memory, not learning), and the same picture filed under
two class names. Both are reported, not refused: a student decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.data.decode import ImageRefused
from workbench.data.gathered.manifest import read_manifest, session_of
from workbench.data.gathered.reencode import perceptual_hash
from workbench.data.splits import make_splits

MIN_SESSIONS = 3  # one each for train, validation and test
NEAR_BITS = 6  # of 64: webcam frames of one pose differ by 0-6, different photos by 20 or more


@dataclass(frozen=True)
class NearCopy:
    first: str  # "class/file.jpg"
    second: str
    bits: int  # Hamming distance of their perceptual hashes
    where: str  # "across classes" or "across splits"

    def line(self) -> str:
        return f"{self.first} and {self.second} are near-copies {self.where} ({self.bits} of 64 bits differ)"


@dataclass
class Readiness:
    counts: dict[str, int]  # images per class
    sessions: dict[str, int]  # capture sessions per class
    problems: list[str] = field(default_factory=list)  # what stops it training, one line each
    near_copies: list[NearCopy] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems


def session_problems(sessions: dict[str, int], counts: dict[str, int]) -> list[str]:
    """One line per class that cannot give whole sessions to training, validation and test."""
    lines = []
    for name in sorted(counts):
        if counts[name] == 0:
            lines.append(f"class {name!r} has no images; add at least {MIN_SESSIONS} sessions (a burst or an "
                         f"upload each), or remove the class")
        elif sessions[name] < MIN_SESSIONS:
            more = MIN_SESSIONS - sessions[name]
            lines.append(f"class {name!r} has images from {sessions[name]} capture session(s); add {more} more "
                         f"(a burst or an upload each) so that validation and test see sessions it did not train on")
    return lines


def _distances(bits: list[np.ndarray]) -> np.ndarray:
    """Bits that differ, pair by pair, for 64-bit hashes unpacked to 0/1 rows (a matrix product, not a loop)."""
    ones = np.stack(bits).astype(np.float32)
    return np.rint(ones @ (1 - ones).T + (1 - ones) @ ones.T).astype(int)


def _unpacked(text: str) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(text), dtype=np.uint8))


def likeness_groups(hashes: list[str]) -> list[int]:
    """A group number per image: images joined by chains of near-copies share one (a burst found in a folder)."""
    if not hashes:
        return []
    near = _distances([_unpacked(h) for h in hashes]) <= NEAR_BITS
    group = list(range(len(hashes)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(near, k=1))):
        group[root(int(j))] = root(int(i))
    return [root(i) for i in range(len(hashes))]


def _hashes(folder: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """64 bits per image: from the manifest where the server wrote it, else from the file (put there by hand)."""
    known = read_manifest(folder).get("images") or {}
    bits = {}
    for key in keys:
        text = (known.get(key) or {}).get("phash")
        try:
            text = text or perceptual_hash(folder / key)
            bits[key] = _unpacked(text)
        except (ImageRefused, ValueError):
            continue  # not an image: the folder's notes count it when it trains
    return bits


def near_copies(folder: Path, images: dict[str, list[str]], seed: int) -> list[NearCopy]:
    """Near-copies across classes, and across the splits ``seed`` makes (within a class, between sessions)."""
    keys = [f"{c}/{name}" for c in sorted(images) for name in images[c]]
    bits = _hashes(folder, keys)
    keys = [k for k in keys if k in bits]
    if len(keys) < 2:
        return []
    distance = _distances([bits[k] for k in keys])
    classes = np.array([k.split("/", 1)[0] for k in keys])
    groups = np.array([session_of(Path(k)) for k in keys])
    split = np.empty(len(keys), dtype=object)
    labels = np.unique(classes, return_inverse=True)[1]
    for name, indices in make_splits(labels, seed, groups=groups).items():
        split[indices] = name
    found = []
    for i, j in zip(*np.nonzero(np.triu(distance <= NEAR_BITS, k=1))):
        if classes[i] != classes[j]:
            found.append(NearCopy(keys[i], keys[j], int(distance[i, j]), "across classes"))
        elif split[i] != split[j]:
            found.append(NearCopy(keys[i], keys[j], int(distance[i, j]), f"across splits ({split[i]}, {split[j]})"))
    return found


def check_gathered(folder: Path, seed: int = 0, images: dict[str, list[str]] | None = None) -> Readiness:
    """What a dataset page shows before Launch, and what `workbench data check` prints."""
    if images is None:
        images = {c.name: sorted(p.name for p in c.iterdir() if p.is_file() and not p.name.startswith("."))
                  for c in sorted(Path(folder).iterdir()) if c.is_dir() and not c.name.startswith(".")}
    counts = {c: len(names) for c, names in images.items()}
    sessions = {c: len({session_of(Path(n)) for n in names}) for c, names in images.items()}
    readiness = Readiness(counts, sessions, session_problems(sessions, counts))
    if len(images) < 2:
        readiness.problems.append("a dataset needs two classes at least; add a class")
    if readiness.ready:
        readiness.near_copies = near_copies(Path(folder), images, seed)
    return readiness
