"""Segments: named row subsets of a table, by column values (pure pandas)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

MISSING_VALUE = "<missing>"


# ---------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    """A named subset of the evaluation rows."""

    name: str
    where: dict[str, str]
    index: np.ndarray  # positional row indices


def _as_text(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna(MISSING_VALUE).astype(object)


def _factorize(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes 0..k-1 and their labels; missing values get their own label."""
    codes, uniques = pd.factorize(column, sort=True)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_VALUE)
    return codes.astype(np.int64), labels


def segments_from_columns(frame: pd.DataFrame, segment_columns: Sequence[Sequence[str]]) -> list[Segment]:
    """One segment per value of each column; a list of columns gives their intersections."""
    out: list[Segment] = []
    for cols in segment_columns:
        combined = np.zeros(len(frame), dtype=np.int64)
        label_sets = []
        for col in cols:
            codes, labels = _factorize(frame[col])
            combined = combined * len(labels) + codes
            label_sets.append(labels)
        order = np.argsort(combined, kind="stable")
        keys, starts = np.unique(combined[order], return_index=True)
        bounds = [*starts[1:], len(order)] if len(starts) else []
        found = []
        for key, start, stop in zip(keys, starts, bounds, strict=True):
            values, rest = [], int(key)
            for labels in reversed(label_sets):
                rest, code = divmod(rest, len(labels))
                values.append(labels[code])
            where = dict(zip(cols, reversed(values), strict=True))
            found.append(Segment(" & ".join(f"{c}={v}" for c, v in where.items()), where, order[start:stop]))
        out += sorted(found, key=lambda seg: tuple(seg.where.values()))
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


def config_segments(frame: pd.DataFrame, config: Any) -> list[tuple[str, np.ndarray]]:
    """`overall`, every configured segment, then each key segment not already listed.

    Segment definitions whose columns the frame lacks are skipped (the caller's checks report
    missing columns); `config` is a PolicyConfig.
    """
    out = [("overall", np.arange(len(frame)))]
    columns = [c for c in config.segment_columns if all(col in frame.columns for col in c)]
    seen = set()
    for seg in segments_from_columns(frame, columns):
        seen.add(seg.name)
        out.append((seg.name, seg.index))
    for key in config.key_segments:
        if key.name not in seen and all(col in frame.columns for col in key.where):
            out.append((key.name, rows_where(frame, key.where)))
    return out


def drop_covered_intersections(findings: Sequence[Any]) -> list[Any]:
    """Findings (anything with `.segment`) without intersections whose single-column parent is named:
    `browser=safari & device=mobile` adds nothing when `browser=safari` is there."""
    named = {f.segment for f in findings if f.segment and " & " not in f.segment}
    return [
        f
        for f in findings
        if not f.segment
        or " & " not in f.segment
        or not any(part in named for part in f.segment.split(" & "))
    ]
