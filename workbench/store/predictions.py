"""What a student predicted before a comparison ran, kept with the comparison in the run store.

Predict, observe, explain: before Launch a page may record which network reaches the target accuracy first (and
by how many epochs) and each one's final test accuracy, with a sentence why. One small JSON file per comparison in
the run folder's ``predictions/`` (written atomically, like the records); the comparison view shows it beside the
result, the class board plots the class's predictions against what was measured, and `workbench runs --json` and
the CSV export carry it. A prediction is what a person typed: checked here, and shown as text wherever it appears.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from workbench.core.errors import ConfigError, RunStoreError
from workbench.core.files import write_atomically

FOLDER = "predictions"
FIRST = ("transfer", "scratch", "neither")  # which network reaches the target accuracy first
MAX_WHY = 300
MAX_EPOCHS = 500
MAX_NAME = 40


@dataclass(frozen=True)
class Prediction:
    """A guess made before the run: ``first`` reaches the target ``by_epochs`` epochs sooner than the other (0 when
    neither reaches it, or both at once), and each network ends at the given test accuracy (0..1)."""

    first: str
    by_epochs: int
    transfer_acc: float
    scratch_acc: float
    why: str = ""
    name: str = ""  # who, as shown on the class board (a typed name, or nothing)
    comparison_id: str = ""
    made: str = ""

    def checked(self) -> "Prediction":
        """This prediction, or a one-line `ConfigError` saying what to fix."""
        if self.first not in FIRST:
            raise ConfigError(f"a prediction says which network reaches the target first: {', '.join(FIRST)}; "
                              f"got {self.first!r}")
        if isinstance(self.by_epochs, bool) or not isinstance(self.by_epochs, int) \
                or not 0 <= self.by_epochs <= MAX_EPOCHS:
            raise ConfigError(f"'by how many epochs' is a whole number from 0 to {MAX_EPOCHS}, got {self.by_epochs!r}")
        for label, value in (("transfer", self.transfer_acc), ("scratch", self.scratch_acc)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value <= 1:
                raise ConfigError(f"the predicted {label} accuracy is a fraction from 0 to 1 (0.8 is 80 %), "
                                  f"got {value!r}")
        for label, text, most in (("why", self.why, MAX_WHY), ("name", self.name, MAX_NAME)):
            if not isinstance(text, str) or len(text) > most:
                raise ConfigError(f"the prediction's {label} is text of at most {most} characters")
        if self.first == "neither" and self.by_epochs:
            raise ConfigError("when neither network reaches the target first, 'by how many epochs' is 0")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Prediction":
        if not isinstance(data, dict):
            raise ConfigError("a prediction is a JSON object")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known}).checked()
        except TypeError as exc:
            raise ConfigError(f"a prediction lacks a field ({exc})") from None


class Predictions:
    """The predictions of one run folder, by comparison id."""

    def __init__(self, root: str | Path):
        self.folder = Path(root) / FOLDER

    def _path(self, comparison_id: str) -> Path:
        if not comparison_id or not all(c.isalnum() or c in "-_" for c in comparison_id) or len(comparison_id) > 80:
            raise RunStoreError(f"{comparison_id!r} is not a comparison id")
        return self.folder / f"{comparison_id}.json"

    def save(self, prediction: Prediction) -> None:
        data = json.dumps(prediction.checked().to_dict(), indent=1).encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(self._path(prediction.comparison_id), lambda stream: stream.write(data))
        except OSError as exc:
            raise RunStoreError(f"cannot save the prediction in {self.folder} ({exc.strerror or exc})") from exc

    def get(self, comparison_id: str) -> Prediction | None:
        try:
            return Prediction.from_dict(json.loads(self._path(comparison_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, ConfigError, RunStoreError):
            return None  # none made, or a file not of ours: no prediction to show

    def all(self) -> dict[str, Prediction]:
        """Every readable prediction, by comparison id (a damaged file is skipped: it was someone's guess, not a
        result, and nothing else rests on it)."""
        found = {}
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.json")):
                prediction = self.get(path.stem)
                if prediction is not None and prediction.comparison_id == path.stem:
                    found[path.stem] = prediction
        return found
