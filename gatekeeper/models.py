"""The two models a gate run compares, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class TrainedModel:
    """A fitted estimator with what is needed to score it: its features and label classes."""

    model: Any
    features: list[str]
    classes: list[Any]
    version: str | None = None
    n_train: int = 0
    # what this model scored when it was gated: {"metric": ..., "overall": x, "segments": {name: x}}
    reference: dict[str, Any] | None = None
