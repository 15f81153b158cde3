"""`DatasetBuilder`: a dataset of your own images in a notebook, on the same shelf as the dashboard's Your images.

A name and the classes, then one file upload per class: each upload is one capture session, re-encoded by the
shelf (`workbench.data.gathered`), checked (sessions per class, near-copies) and ready for any panel as
``builder.spec``. It can be driven from code too: ``builder.add("cup", ["a.jpg", ...])`` adds files from disk (or
``(name, bytes)`` pairs) as one session, which is how a notebook fills it where nobody clicks.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w

from workbench.core import settings
from workbench.core.errors import WorkbenchError
from workbench.data.gathered.batches import Added
from workbench.data.gathered.checks import Readiness, check_gathered
from workbench.data.gathered.dataset import GatheredDataset
from workbench.data.gathered.shelf import DatasetShelf


def _files(files: list) -> list[tuple[str, bytes]]:
    """Paths, or (name, bytes) pairs, or ipywidgets upload values -> (name, bytes) pairs."""
    out = []
    for item in files:
        if isinstance(item, (str, Path)):
            out.append((Path(item).name, Path(item).read_bytes()))
        elif isinstance(item, tuple):
            out.append((str(item[0]), bytes(item[1])))
        else:  # an ipywidgets FileUpload value: a dict with name and content
            out.append((str(item["name"]), bytes(item["content"])))
    return out


class DatasetBuilder(w.VBox):
    """Make (or reopen) a dataset, add images per class by upload or from code, and see its checks."""

    def __init__(self, name: str = "", classes: list[str] | tuple[str, ...] = (), runs_dir: str | Path | None = None):
        self.shelf = DatasetShelf(Path(runs_dir) if runs_dir else settings.runs_dir())
        self.name = w.Text(value=name, description="dataset", placeholder="desk things")
        self.classes = w.Text(value=", ".join(classes), description="classes", placeholder="cup, pen, phone")
        self.make = w.Button(description="Make / open", button_style="primary")
        self.make.on_click(lambda _: self._open())
        self.status = w.HTML()
        self.uploads = w.VBox()
        self.checks = w.HTML()
        self.dataset: GatheredDataset | None = None
        super().__init__([w.HBox([self.name, self.classes, self.make]), self.status, self.uploads, self.checks])
        if name and classes:
            self._open()

    @property
    def spec(self) -> str:
        """The dataset name a panel or `RunConfig` trains on."""
        if self.dataset is None:
            raise WorkbenchError("make the dataset first: give it a name and classes, then press Make / open")
        return self.dataset.spec

    def _say(self, text: str, problem: bool = False) -> None:
        colour = "#b00020" if problem else "inherit"
        self.status.value = f"<span style='color:{colour}'>{html.escape(text)}</span>"

    def _open(self) -> None:
        """Open the dataset named, or make it with the classes given."""
        try:
            existing = {d.name: d for d in self.shelf.list()}
            name = " ".join(self.name.value.split())
            if name not in existing:
                self.shelf.create(name, [c for c in self.classes.value.split(",") if c.strip()])
            self.dataset = self.shelf.open(name)
        except WorkbenchError as exc:
            self._say(str(exc), problem=True)
            return
        self._say(f"{self.dataset.name}: {self.dataset.count()} images in {len(self.dataset.classes())} classes")
        self.uploads.children = [self._upload_row(c) for c in self.dataset.classes()]
        self.check()

    def _upload_row(self, class_name: str) -> w.HBox:
        upload = w.FileUpload(accept="image/*", multiple=True, description=f"{class_name}: upload")
        add = w.Button(description="add as one session")

        def added(_):
            self.add(class_name, list(upload.value))
            upload.value = ()

        add.on_click(added)
        return w.HBox([upload, add])

    def add(self, class_name: str, files: list) -> Added | None:
        """Add ``files`` (paths, (name, bytes) pairs or upload values) to ``class_name`` as one capture session."""
        if self.dataset is None:
            self._say("make the dataset first", problem=True)
            return None
        try:
            result = self.shelf.add_images(self.dataset.name, class_name, _files(files))
        except WorkbenchError as exc:
            self._say(str(exc), problem=True)
            return None
        self.dataset = self.shelf.open(self.dataset.name)
        skipped = f"; skipped {len(result.refused)}: {result.refused[0]}" if result.refused else ""
        self._say(f"added {result.added} image(s) to {class_name} as one session{skipped}", problem=bool(skipped))
        self.check()
        return result

    def check(self, seed: int = 0) -> Readiness | None:
        """Images and sessions per class, what stops it training, and near-copies (also drawn below the uploads)."""
        if self.dataset is None:
            return None
        readiness = check_gathered(self.dataset.folder, seed)
        rows = "".join(f"<tr><td>{html.escape(c)}</td><td>{readiness.counts[c]}</td><td>{readiness.sessions[c]}</td>"
                       f"</tr>" for c in sorted(readiness.counts))
        lines = [f"<li style='color:#b00020'>{html.escape(p)}</li>" for p in readiness.problems]
        lines += [f"<li>{html.escape(c.line())}</li>" for c in readiness.near_copies[:10]]
        verdict = "ready to train" if readiness.ready else "not ready to train"
        self.checks.value = (f"<table><tr><th>class</th><th>images</th><th>sessions</th></tr>{rows}</table>"
                             f"<b>{verdict}</b><ul>{''.join(lines)}</ul>")
        return readiness
