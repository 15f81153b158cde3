"""What one student may keep on the class server: read by `workbench dashboard`'s flags without loading the shelf
(or torch), and enforced by the shelf (`workbench.data.gathered.shelf`)."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.core.errors import DataError


@dataclass(frozen=True)
class Quotas:
    """What one student may keep on the class server (the teacher sets them: `workbench dashboard --max-...`)."""

    images_per_class: int = 200
    images_per_dataset: int = 1000
    megabytes_per_owner: int = 100

    @classmethod
    def of(cls, values: dict) -> Quotas:
        """From `workbench dashboard`'s flags (`QUOTA_FLAGS`; None: the default), each a whole number >= 1."""
        given = {name: value for name, value in values.items() if value is not None}
        for name, value in given.items():
            if not isinstance(value, int) or value < 1:
                raise DataError(f"--{QUOTA_FLAGS[name][0]} must be a whole number of 1 or more, got {value}")
        return cls(**given)


QUOTA_FLAGS = {"images_per_class": ("max-images-per-class", "images a class of a student's dataset may hold"),
               "images_per_dataset": ("max-images-per-dataset", "images a student's dataset may hold"),
               "megabytes_per_owner": ("max-mb-per-student", "megabytes of images each student may keep")}
