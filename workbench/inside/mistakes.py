"""Mistakes: the test images each network got wrong, with what it said and how sure it was.

A cell of the confusion matrix (true class, predicted class) picks its images; without a cell,
every mistake is shown, the most confident first: those say most about what a network learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.inside.networks import ROLES, Networks, evaluate_batches
from workbench.training.train import confusion_matrix


@dataclass
class Predictions:
    labels: torch.Tensor
    predicted: torch.Tensor
    confidence: torch.Tensor  # the softmax probability of the predicted class

    def confusion(self, num_classes: int) -> list[list[int]]:
        return confusion_matrix(self.labels, self.predicted, num_classes).tolist()

    def cell(self, true: int | None = None, predicted: int | None = None) -> list[int]:
        """Indices in one cell, row or column of the confusion matrix; with neither, all mistakes.
        The most confident first."""
        if true is None and predicted is None:
            mask = self.labels != self.predicted
        else:
            mask = torch.ones_like(self.labels, dtype=torch.bool)
            if true is not None:
                mask &= self.labels == true
            if predicted is not None:
                mask &= self.predicted == predicted
        chosen = torch.nonzero(mask).flatten()
        return chosen[self.confidence[chosen].argsort(descending=True, stable=True)].tolist()


def test_predictions(networks: Networks) -> dict[str, Predictions]:
    """Both trained networks on the test images, as the runs' own test evaluation saw them."""
    x = networks.inputs(networks.data.images["test"])
    labels = networks.data.labels["test"]
    result = {}
    for role in ROLES:
        top = evaluate_batches(networks.trained[role], x)[1].softmax(1).max(1)
        result[role] = Predictions(labels, top.indices, top.values)
    return result


def describe(predictions: dict[str, Predictions]) -> list[str]:
    return [f"{role:10}{len(p.cell())} of {len(p.labels)} test images wrong" for role, p in predictions.items()]
