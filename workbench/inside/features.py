"""The feature space: where each network puts the validation images just before its head.

Penultimate features are projected to 2-D (PCA, and t-SNE from scikit-learn) and coloured by
class. A projection can mislead, so each network also gets a number measured on the full
features: the cross-validated accuracy of a 5-nearest-neighbour classifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench.inside.networks import Networks, evaluate_batches, spread_over_classes

METHODS = ("pca", "tsne")
NEIGHBOURS = 5
MAX_POINTS = 400  # exact t-SNE stays within seconds; Barnes-Hut was slower below a few thousand points


@dataclass
class FeatureSpace:
    labels: np.ndarray
    classes: list[str]
    points: dict[str, dict[str, np.ndarray]]  # network -> method -> (N, 2)
    knn_acc: dict[str, float | None]  # network -> cross-validated k-NN accuracy


def project(features: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(features)
    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", method="exact",
                random_state=seed).fit_transform(features)


def knn_accuracy(features: np.ndarray, labels: np.ndarray) -> float | None:
    """Cross-validated k-NN accuracy on standardised features (None with under 2 images of a class)."""
    folds = min(5, int(np.bincount(labels).min()))
    if folds < 2:
        return None
    k = min(NEIGHBOURS, len(labels) - len(labels) // folds - 1)
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=k))
    return float(cross_val_score(model, features, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=0)).mean())


def feature_space(networks: Networks, methods: tuple[str, ...] = METHODS) -> FeatureSpace:
    """Validation images (up to `MAX_POINTS`, spread over the classes) through the transfer run's start,
    the fine-tuned and the scratch network."""
    chosen = spread_over_classes(networks.data.labels["val"], MAX_POINTS)
    x = networks.inputs(networks.data.images["val"][chosen])
    labels = networks.data.labels["val"][chosen].numpy()
    models = {networks.start_label: networks.start["transfer"], "fine-tuned": networks.trained["transfer"],
              "scratch": networks.trained["scratch"]}
    points, scores = {}, {}
    for name, model in models.items():
        features = evaluate_batches(model, x)[0].numpy().astype(np.float64)
        points[name] = {method: project(features, method) for method in methods}
        scores[name] = knn_accuracy(features, labels)
    return FeatureSpace(labels, networks.classes, points, scores)


def describe(space: FeatureSpace) -> list[str]:
    return [f"{name:22}{NEIGHBOURS}-NN accuracy on its features: " + ("n/a" if acc is None else f"{acc:.1%}")
            for name, acc in space.knn_acc.items()]
