"""How the slice search cuts columns into slices (pure pandas/numpy): each categorical value with
enough rows in both tables (the most frequent `MAX_LEVELS`), numeric columns at the reference's
quantiles (and "is missing"). Datetimes are not cut: a time slice is the drift report's business.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gatekeeper.data.checks import is_numeric
from gatekeeper.data.segments import MISSING_VALUE
from gatekeeper.metrics import Array

MAX_LEVELS = 64  # slices per column (the most frequent values); more is an id, not a slice


@dataclass(frozen=True)
class Axis:
    """A column cut into slices: a code per row of each table, -1 outside every slice."""

    column: str
    reference: Array
    batch: Array
    labels: list[str]  # a condition per code: "C=v", "C < 3", "C in [3, 5)"
    complements: bool  # whether "C != v" slices are searched too


def axes(
    reference: pd.DataFrame, batch: pd.DataFrame, columns: list[str], min_rows: int, bins: int
) -> list[Axis]:
    """Every column that can be cut into slices with enough rows in both tables."""
    found = []
    for column in columns:
        axis = _axis(reference[column], batch[column], column, min_rows, bins)
        if axis is not None:
            found.append(axis)
    return found


def _axis(ref: pd.Series, new: pd.Series, column: str, min_rows: int, bins: int) -> Axis | None:
    if pd.api.types.is_datetime64_any_dtype(ref) or pd.api.types.is_datetime64_any_dtype(new):
        return None
    if is_numeric(ref) and is_numeric(new) and ref.nunique() > max(bins, 12):
        numbers = ref.to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(numbers, np.linspace(0, 1, bins + 1)[1:-1]))
        bounds = [-np.inf, *edges, np.inf]
        labels = [_interval(column, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        labels.append(f"{column} is missing")

        def code(values: pd.Series) -> Array:
            x = values.to_numpy(dtype=float)
            return np.where(np.isnan(x), len(labels) - 1, np.searchsorted(edges, x, side="right"))

        return Axis(column, code(ref), code(new), labels, complements=False)
    ref_text = ref.astype("string").fillna(MISSING_VALUE)
    new_text = new.astype("string").fillna(MISSING_VALUE)
    ref_counts, new_counts = ref_text.value_counts(), new_text.value_counts()
    common = pd.concat([ref_counts, new_counts], axis=1, join="inner").min(axis=1)
    keep = common[common >= min_rows].sort_values(ascending=False).index[:MAX_LEVELS]
    if len(keep) == 0 or (len(keep) == 1 and len(new_counts) == 1):
        return None
    categories = sorted(str(v) for v in keep)
    index = pd.Index(categories)
    codes = [index.get_indexer(t).astype(np.int64) for t in (ref_text, new_text)]
    labels = [f"{column}={v}" for v in categories]
    return Axis(column, codes[0], codes[1], labels, complements=len(new_counts) > 2)


def _interval(column: str, lo: float, hi: float) -> str:
    if lo == -np.inf:
        return f"{column} < {hi:.4g}"
    if hi == np.inf:
        return f"{column} >= {lo:.4g}"
    return f"{column} in [{lo:.4g}, {hi:.4g})"


def slice_mask(
    conditions: tuple[tuple[int, int, bool], ...], found: list[Axis], table: str = "batch"
) -> Array:
    """The rows of a slice in the batch (or the reference)."""
    mask = None
    for axis, code, negated in conditions:
        codes = getattr(found[axis], table)
        part = (codes != code) if negated else (codes == code)
        mask = part if mask is None else mask & part
    assert mask is not None
    return np.asarray(mask, dtype=bool)
