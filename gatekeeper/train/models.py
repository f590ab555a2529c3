"""The models a gate run compares, as plain values, and their outputs on a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.findings import ChampionReference
from gatekeeper.metrics import Array


@dataclass(frozen=True)
class TrainedModel:
    """A fitted estimator with what is needed to score it: its features and label classes."""

    model: Any
    features: list[str]
    classes: list[Any]
    version: str | None = None
    n_train: int = 0
    reference: ChampionReference | None = None  # what this model scored when it was gated


def model_outputs(model: Any, X: pd.DataFrame, classes: list[Any]) -> Array:
    """Class probabilities aligned to `classes`, or predictions when `classes` is empty (regression)."""
    if not classes:
        return np.asarray(model.predict(X), dtype=float)
    return predict_proba_aligned(model, X, classes)


def predict_proba_aligned(model: Any, X: pd.DataFrame, classes: list[Any]) -> Array:
    """Class probabilities with columns in `classes` order (missing classes get 0)."""
    proba = np.asarray(model.predict_proba(X), dtype=float)
    model_classes = [str(c) for c in model.classes_]
    out = np.zeros((len(X), len(classes)))
    for j, c in enumerate(classes):
        if str(c) in model_classes:
            out[:, j] = proba[:, model_classes.index(str(c))]
    return out
