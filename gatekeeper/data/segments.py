"""Segments: named row subsets of a table, by column values (pure pandas)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas loads with the first frame (compare-scores on Arrow never needs it)
    import pandas as pd

MISSING_VALUE = "<missing>"
MAX_SEGMENTS = 500  # per configured column (or columns): the largest are compared, the rest are not
Factorized = tuple[np.ndarray, list[str]]  # codes 0..k-1 per row and the k labels, sorted as values


# ---------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    """A named subset of the evaluation rows."""

    name: str
    where: dict[str, str]
    index: np.ndarray  # positional row indices


def _as_text(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna(MISSING_VALUE).astype(object)


def factorize(column: pd.Series) -> Factorized:
    """Codes 0..k-1 and their labels; missing values get their own label."""
    import pandas as pd

    codes, uniques = pd.factorize(column, sort=True)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING_VALUE)
    return codes.astype(np.int64), labels


def segments_from_columns(frame: pd.DataFrame, segment_columns: Sequence[Sequence[str]]) -> list[Segment]:
    """One segment per value of each column; a list of columns gives their intersections."""
    factorized = {col: factorize(frame[col]) for cols in segment_columns for col in cols}
    return segments_from_codes(factorized, segment_columns, len(frame))


def segments_from_codes(
    factorized: Mapping[str, Factorized], segment_columns: Sequence[Sequence[str]], rows: int
) -> list[Segment]:
    """`segments_from_columns` from each column's codes and labels (however they were read)."""
    out: list[Segment] = []
    for cols in segment_columns:
        combined = np.zeros(rows, dtype=np.int64)
        label_sets = []
        for col in cols:
            codes, labels = factorized[col]
            combined = combined * len(labels) + codes
            label_sets.append(labels)
        # a stable sort of small codes is a radix sort: cast them to the narrowest type that fits
        narrow = np.min_scalar_type(int(combined.max())) if rows else np.int64
        order = np.argsort(combined.astype(narrow, copy=False), kind="stable")
        ranked = combined[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]]) if rows else np.zeros(0, int)
        keys = ranked[starts]
        bounds = [*starts[1:], len(order)] if len(starts) else []
        found = []
        for key, start, stop in zip(keys, starts, bounds, strict=True):
            values, rest = [], int(key)
            for labels in reversed(label_sets):
                rest, code = divmod(rest, len(labels))
                values.append(labels[code])
            where = dict(zip(cols, reversed(values), strict=True))
            found.append(Segment(" & ".join(f"{c}={v}" for c, v in where.items()), where, order[start:stop]))
        if len(found) > MAX_SEGMENTS:  # an id, not a segment: the largest (`segment_cap_checks` warns)
            found = sorted(found, key=lambda seg: -len(seg.index))[:MAX_SEGMENTS]
        out += sorted(found, key=lambda seg: tuple(seg.where.values()))
    return out


def rows_where(frame: pd.DataFrame, where: dict[str, Any]) -> np.ndarray:
    """Positional indices of rows matching every `column: value` (numbers compare as numbers)."""
    import pandas as pd

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


def segment_counts(frame: pd.DataFrame, segment_columns: Sequence[Sequence[str]]) -> dict[str, int]:
    """How many segments each configured column (or set of columns) makes in `frame`."""
    counts = {}
    for cols in segment_columns:
        if all(c in frame.columns for c in cols):
            counts[" & ".join(cols)] = int(frame[list(cols)].drop_duplicates().shape[0])
    return counts
