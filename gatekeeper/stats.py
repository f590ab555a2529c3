"""Metric directions, relative change, label encoding and segments (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "accuracy": True,
    "balanced_accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "average_precision": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
}
MISSING_VALUE = "<missing>"


@dataclass(frozen=True)
class MetricValue:
    """A metric on some rows, or the reason it is undefined there."""

    value: float | None
    undefined_reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.value is not None


def gain(metric: str, delta: float) -> float:
    """Delta oriented so that positive always means 'candidate is better'."""
    return delta if HIGHER_IS_BETTER[metric] else -delta


def relative_change(metric: str, champion: float, candidate: float) -> float:
    """Our one definition of relative change: oriented gain divided by |champion|.

    TFMA's docs and code disagree on 'relative'; this is the meaning used everywhere here.
    A champion value of 0 gives +inf/-inf for any non-zero gain and 0.0 for none.
    """
    g = gain(metric, candidate - champion)
    if champion == 0:
        return 0.0 if g == 0 else float(np.sign(g) * np.inf)
    return g / abs(champion)


def encode_labels(y_true: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """Labels as indices into `classes` (compared as text, so 1 and '1' agree)."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    text = pd.Series(y_true).astype(str).to_numpy()
    codes = np.fromiter((lookup.get(t, -1) for t in text), dtype=np.int64, count=len(text))
    if (codes < 0).any():
        unknown = sorted(set(text[codes < 0]))[:5]
        raise ValueError(f"labels {unknown} are not among the model's classes {list(classes)}")
    return codes


# ---------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    """A named subset of the evaluation rows."""

    name: str
    where: dict[str, str]
    index: np.ndarray  # positional row indices


def _as_text(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna(MISSING_VALUE).astype(object)


def segments_from_columns(frame: pd.DataFrame, segment_columns: Sequence[Sequence[str]]) -> list[Segment]:
    """One segment per value of each column; a list of columns gives their intersections."""
    out: list[Segment] = []
    for cols in segment_columns:
        keys = pd.DataFrame({c: _as_text(frame[c]) for c in cols})
        groups = keys.groupby(list(cols), sort=True).indices
        for values, idx in groups.items():
            values = values if isinstance(values, tuple) else (values,)
            where = dict(zip(cols, (str(v) for v in values), strict=True))
            out.append(Segment(" & ".join(f"{c}={v}" for c, v in where.items()), where, np.asarray(idx)))
    return out


def rows_where(frame: pd.DataFrame, where: dict[str, Any]) -> np.ndarray:
    """Positional indices of rows matching every `column: value` (numbers compare as numbers)."""
    mask = np.ones(len(frame), dtype=bool)
    for col, value in where.items():
        column = frame[col]
        if pd.api.types.is_numeric_dtype(column) and not isinstance(value, str | bool):
            mask &= (column == value).to_numpy(dtype=bool, na_value=False)
        else:
            mask &= (_as_text(column) == str(value)).to_numpy(dtype=bool)
    return np.flatnonzero(mask)
