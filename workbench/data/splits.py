"""Stratified, seeded train/val/test splits, decided on the labels before any image is decoded.

Where images come in groups of near-copies (a gathered dataset's capture sessions: frames of one burst), a group
is never cut: whole sessions go to train, validation or test, so a network is not tested on a frame whose twin it
trained on (the leak that makes home-made datasets look easy).
"""

from __future__ import annotations

import numpy as np

from workbench.core.errors import DataError
from workbench.data.sources import SPLITS

VAL_FRACTION = 0.2
TEST_FRACTION = 0.2


class TooFewImages(DataError):
    """Labels per class asks for more training images than a class has: the settings, not the dataset, to fix
    (an estimate says so instead of guessing)."""


def _carve(indices: np.ndarray, labels: np.ndarray, fraction: float, rng: np.random.Generator,
           groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` per class into (rest, carved) with ``fraction`` carved out of each class; with ``groups``,
    whole groups are carved (as near ``fraction`` of the images as whole groups allow, one group at least)."""
    rest, carved = [], []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        if groups is None:
            members = rng.permutation(members)
            take = int(round(fraction * len(members)))
            if len(members) >= 2:
                take = min(max(take, 1), len(members) - 1)
            carved.append(members[:take])
            rest.append(members[take:])
            continue
        names = rng.permutation(np.unique(groups[members]))
        wanted, taken, chosen = fraction * len(members), 0, []
        for name in names[:-1]:  # the last group always stays
            if chosen and taken + np.sum(groups[members] == name) / 2 > wanted:
                break
            chosen.append(name)
            taken += np.sum(groups[members] == name)
        inside = np.isin(groups[members], chosen)
        carved.append(members[inside])
        rest.append(members[~inside])
    return np.concatenate(rest), np.concatenate(carved)


def make_splits(
    labels: np.ndarray,
    seed: int,
    predefined: np.ndarray | None = None,
    train_per_class: int | None = None,
    max_eval_per_class: int | None = None,
    groups: np.ndarray | None = None,
    names: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Stratified, seeded train/val/test index arrays.

    Where the data fixes a split (``predefined``) it is kept; missing validation or test
    sets are carved per class from the training or validation set. ``train_per_class``
    keeps that many training images of each class (simulating small data);
    ``max_eval_per_class`` caps validation and test sets to keep evaluation quick; ``groups`` (a session per
    image) keeps each group inside one split; ``names``, the class names, are what an error says.
    """
    rng = np.random.default_rng(seed)
    every = np.arange(len(labels))
    if predefined is None:
        rest, test = _carve(every, labels, TEST_FRACTION, rng, groups)
        train, val = _carve(rest, labels, VAL_FRACTION / (1 - TEST_FRACTION), rng, groups)
    else:
        train, val, test = (every[predefined == s] for s in SPLITS)
        if len(val) == 0:
            train, val = _carve(train, labels, VAL_FRACTION, rng)
        if len(test) == 0:
            val, test = _carve(val, labels, 0.5, rng)
    splits = {"train": train, "val": val, "test": test}
    if train_per_class is not None:
        splits["train"] = _per_class(train, labels, train_per_class, rng, strict=True, names=names)
    if max_eval_per_class is not None:
        for split in ("val", "test"):
            splits[split] = _per_class(splits[split], labels, max_eval_per_class, rng, strict=False)
    return {split: np.sort(indices) for split, indices in splits.items()}


def _per_class(indices: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator, strict: bool,
               names: list[str] | None = None) -> np.ndarray:
    classes = np.unique(labels)
    if strict:  # the smallest class is the one to name
        fewest = min(classes, key=lambda c: np.sum(labels[indices] == c))
        if (most := int(np.sum(labels[indices] == fewest))) < count:
            raise TooFewImages(
                f"labels per class (--train-per-class) is {count}, but class {names[fewest] if names else fewest} "
                f"has only {most} training images (the rest are for validation and test); set it to {most} or less")
    return np.concatenate([rng.permutation(indices[labels[indices] == label])[:count] for label in classes])
