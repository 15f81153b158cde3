"""One gathered dataset as the shelf sees it: its folder, owner, sharing and hashes, and what its folders hold."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workbench.core.files import write_atomically
from workbench.data.gathered.manifest import MANIFEST, read_manifest, session_of


@dataclass
class GatheredDataset:
    name: str
    folder: Path
    owner: str | None
    shared: bool
    created: str
    hashes: dict[str, dict[str, str]]  # "class/file.jpg" -> {"digest": ..., "phash": ...}

    @property
    def spec(self) -> str:
        """The dataset name every face trains on."""
        return f"imagefolder:{self.folder}"

    def classes(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def images(self, class_name: str) -> list[Path]:
        folder = self.folder / class_name
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if folder.is_dir() else []

    def sessions(self, class_name: str) -> set[str]:
        return {session_of(path) for path in self.images(class_name)}

    def count(self) -> int:
        return sum(len(self.images(c)) for c in self.classes())

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for c in self.classes() for p in self.images(c))

    def save(self) -> None:
        """The manifest, replaced whole."""
        data = {"format": 1, "name": self.name, "owner": self.owner, "shared": self.shared, "created": self.created,
                "images": self.hashes}
        write_atomically(self.folder / MANIFEST, lambda stream: stream.write(json.dumps(data, indent=1).encode()))

    @classmethod
    def load(cls, folder: Path) -> GatheredDataset | None:
        """The dataset in ``folder``, or None where it has no readable manifest (not a gathered dataset)."""
        manifest = read_manifest(folder)
        if not manifest:
            return None
        return cls(folder.name, folder, manifest.get("owner"), bool(manifest.get("shared")),
                   str(manifest.get("created", "")), dict(manifest.get("images") or {}))
