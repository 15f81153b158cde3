"""Which image folders a class page may read: only those inside the folders the teacher named.

`workbench dashboard --data-root DIR` (repeatable) names them; the run folder's ``datasets/`` (where the
class's gathered datasets are, `workbench.data.gathered`) counts as one too, for the datasets the page may see:
its own (``viewer``) and those shared with the class. A path typed on a class page is read as it is (no ``~``),
first checked by its letters to stay inside a root (so nothing outside one is even looked at), then
resolved (``..`` and symlinks followed) and checked again; a relative path is looked for inside each
root in turn. Every refusal is the same one line, whether or not the path exists, so a page cannot
probe the server's folders. The command line, the notebooks and the teacher's page pass no roots
(``None``) and read any folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workbench.core.errors import DataError
from workbench.data.gathered.manifest import visible_to

DATASETS = "datasets"  # under the run folder


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class DataRoots:
    named: tuple[Path, ...]  # the teacher's --data-root folders, resolved
    datasets: Path  # the run folder's datasets/, resolved
    given: tuple[str, ...] = ()  # the same folders as the teacher spelled them (absolute), for the letters check
    viewer: str = ""  # the page asking: which gathered datasets are its own ("" sees the shared ones only)

    @classmethod
    def of(cls, named: list[str | Path] | None, runs_dir: Path, viewer: str = "") -> DataRoots:
        """The roots a server was started with; a named root must be an existing folder."""
        resolved, given = [], []
        for root in named or []:
            path = Path(root).expanduser()
            if not path.is_dir():
                raise DataError(f"--data-root {root} is not a folder on this machine; give an existing folder")
            resolved.append(path.resolve())
            given.append(os.path.abspath(path))
        datasets = Path(runs_dir).expanduser() / DATASETS
        return cls(tuple(resolved), datasets.resolve(), tuple(given) + (os.path.abspath(datasets),), viewer)

    @property
    def all(self) -> tuple[Path, ...]:
        return (*self.named, self.datasets)

    def refusal(self) -> str:
        """The one line every refused path gets (it says nothing about the path)."""
        if not self.named:
            return ("this server reads no image folder typed on a class page; the teacher can allow some by "
                    "starting it with: workbench dashboard --data-root DIR")
        return (f"this server reads image folders only inside its data folders ({self.names()}); give a folder's "
                f"path inside one of them")

    def names(self) -> str:
        """The named roots by their folder names (where the server keeps them is the teacher's business)."""
        return ", ".join(root.name or str(root) for root in self.named)

    def shown(self, folder: Path) -> str:
        """A folder inside a root as a class page may see it: from the root's own name on (``photos/pets``)."""
        for root in self.all:
            if _inside(str(folder), str(root)):
                return str(Path(root.name) / folder.relative_to(root))
        return folder.name

    def _allowed(self, text: str) -> Path | None:
        lexical = os.path.normpath(text)
        if not any(_inside(lexical, root) for root in (*map(str, self.all), *self.given)):
            return None
        try:
            real = Path(lexical).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        if _inside(str(real), str(self.datasets)):  # even where a named root holds the run folder
            return real if self._may_see(real) else None
        if _inside(str(self.datasets), str(real)):  # a folder above the datasets would read every one of them
            return None
        return real if any(_inside(str(real), str(root)) for root in self.named) else None

    def _may_see(self, real: Path) -> bool:
        """Inside ``datasets/``: only within a dataset this page may see (its own or a shared one)."""
        if real == self.datasets:
            return False
        return visible_to(self.datasets / real.relative_to(self.datasets).parts[0], self.viewer)

    def folder(self, text: str) -> Path:
        """The folder ``text`` names, resolved, if it lies inside a root; else `DataError` with `refusal`."""
        text = text.strip()
        if text and "\0" not in text:
            if os.path.isabs(text):
                found = self._allowed(text)
            else:
                candidates = [self._allowed(os.path.join(root, text)) for root in self.all]
                candidates = [c for c in candidates if c is not None]
                found = next((c for c in candidates if c.is_dir()), candidates[0] if candidates else None)
            if found is not None:
                return found
        raise DataError(self.refusal())


def folder_argument(text: str, roots: DataRoots | None) -> str:
    """What ``imagefolder:`` opens for ``text``: as typed where paths are free (``roots`` None), else the folder
    resolved inside a root (or the one-line refusal)."""
    return text.strip() if roots is None else str(roots.folder(text))
