"""Targets and both models' outputs on the same evaluation rows (the unit every comparison takes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gatekeeper.metrics import Array, Estimate, Targets


def encode_labels(y_true: Array, classes: Sequence[Any]) -> Array:
    """Labels as indices into `classes` (compared as text, so 1 and '1' agree)."""
    names = [str(c) for c in classes]
    y = np.asarray(y_true)
    codes = None
    if y.dtype.kind in "iub" and all(isinstance(c, int | np.integer) for c in classes):
        order = np.argsort(np.asarray(classes))
        sorted_classes = np.asarray(classes)[order]
        pos = np.clip(np.searchsorted(sorted_classes, y), 0, len(classes) - 1)
        codes = np.where(sorted_classes[pos] == y, order[pos], -1)
    if codes is None:
        import pandas as pd

        text = pd.Series(y, dtype=object).astype(str)
        codes = pd.Index(names).get_indexer(text).astype(np.int64)
    if (codes < 0).any():
        unknown = sorted({str(v) for v in y[codes < 0]})[:5]
        raise ValueError(f"labels {unknown} are not among the model's classes {list(classes)}")
    return np.asarray(codes, dtype=np.int64)


@dataclass(frozen=True)
class PairedRows:
    """Targets and both models' outputs on the same evaluation rows.

    Classification: `y` holds label codes 0..k-1 and the models' outputs are (n, k) class
    probabilities. Regression (`classes == []`): `y` holds the targets, the outputs predictions.
    """

    y: Array
    candidate: Array
    champion: Array | None  # None: no champion yet
    classes: list[Any]
    positive: int | None = None  # column of the positive class (binary only)
    clusters: Array | None = None  # an entity code per row (`cluster_column`): resampled whole
    unit: str = "clusters"  # what one cluster is, as a comparison's method names it
    # both models' estimates of a metric already computed on exactly these rows (the time blocks'
    # measure computes the primary metric's), handed once to the comparison that needs them again:
    # shared by `replace` (clusters do not change an estimate), never by `take` (other rows)
    measured: dict[str, tuple[Estimate, Estimate]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def regression(cls, y: Array, candidate: Array, champion: Array | None) -> PairedRows:
        champ = None if champion is None else np.asarray(champion, dtype=float).reshape(-1)
        return cls(
            np.asarray(y, dtype=float).reshape(-1), np.asarray(candidate, dtype=float).reshape(-1), champ, []
        )

    @classmethod
    def from_labels(
        cls,
        y_true: Array,
        candidate: Array,
        champion: Array | None,
        classes: Sequence[Any],
        positive_label: Any | None = None,
    ) -> PairedRows:
        return cls.from_codes(encode_labels(y_true, classes), candidate, champion, classes, positive_label)

    @classmethod
    def from_codes(
        cls,
        codes: Array,
        candidate: Array,
        champion: Array | None,
        classes: Sequence[Any],
        positive_label: Any | None = None,
    ) -> PairedRows:
        """Labels already encoded as indices into `classes`."""
        classes = list(classes)
        positive = None
        if len(classes) == 2:
            positive = 1
            if positive_label is not None:
                matches = [i for i, c in enumerate(classes) if str(c) == str(positive_label)]
                if not matches:
                    raise ValueError(f"positive_label {positive_label!r} is not one of the classes {classes}")
                positive = matches[0]
        return cls(np.asarray(codes, dtype=np.int64), candidate, champion, classes, positive)

    def take(self, index: Array | slice) -> PairedRows:
        """These rows at `index`: positions or a slice (views, no copy)."""

        def rows_of(values: Array) -> Array:
            if isinstance(index, slice):
                return values[index]
            if index.dtype == bool:
                raise TypeError("PairedRows.take takes positions or a slice, not a mask")
            return np.take(values, index, axis=0)  # on (n, k) outputs ~5x faster than values[index]

        champ = None if self.champion is None else rows_of(self.champion)
        clusters = None if self.clusters is None else rows_of(self.clusters)
        return PairedRows(
            rows_of(self.y), rows_of(self.candidate), champ, self.classes, self.positive, clusters, self.unit
        )

    def with_clusters(self, values: Any) -> PairedRows:
        """The same rows, resampled by cluster: `values` names each row's entity (a customer, a
        device); missing values are each their own cluster."""
        import pandas as pd

        codes = pd.Series(values).astype("string").fillna("").to_numpy()
        _, inverse = np.unique(codes, return_inverse=True)
        missing = pd.isna(pd.Series(values)).to_numpy()
        inverse = inverse.astype(np.int64)
        if missing.any():
            inverse[missing] = inverse.max() + 1 + np.arange(int(missing.sum()))
        return replace(self, clusters=inverse)

    @property
    def targets(self) -> Targets:
        return Targets(self.y, tuple(self.classes), self.positive)

    @property
    def n(self) -> int:
        return len(self.y)

    def minority(self) -> int | None:
        """Rows of the rarest class (classification), which bounds what AUC can tell; None for regression."""
        if not self.classes or not self.n:
            return None
        return int(np.bincount(self.y, minlength=len(self.classes)).min())
