"""Structural checks of the gate's tables (pure pandas): the schema the model relies on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.vocabulary import Check, TableName


def _fail(table: TableName, check: str, message: str, **kw: Any) -> Check:
    return Check(f"validation.{check}", "block", f"{table}: {message}", table=table, **kw)


def _kind(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "categorical"


MAX_LABELS = 1_000  # distinct target values kept: enough to name unknown ones


@dataclass(frozen=True)
class TableShape:
    """What the structural checks read of a table: sums that merge exactly across partitions."""

    rows: int
    dtypes: dict[str, Any]
    nulls: dict[str, int]
    labels: tuple[Any, ...] = ()  # distinct non-null target values, in order of appearance
    infinite: dict[str, int] = field(default_factory=dict)  # +-inf values of float columns

    @classmethod
    def of(cls, frame: pd.DataFrame, target: str) -> TableShape:
        labels = tuple(pd.unique(frame[target].dropna())[:MAX_LABELS]) if target in frame.columns else ()
        nulls = {str(c): int(v) for c, v in frame.isna().sum().items()}
        floats = frame.select_dtypes("floating")
        infinite = {str(c): int(v) for c, v in np.isinf(floats).sum().items() if v}
        return cls(len(frame), {str(c): frame[c].dtype for c in frame.columns}, nulls, labels, infinite)

    @classmethod
    def merge(cls, parts: Sequence[TableShape]) -> TableShape:
        first = parts[0]
        labels = tuple(dict.fromkeys(v for p in parts for v in p.labels))[:MAX_LABELS]
        nulls = {c: sum(p.nulls.get(c, 0) for p in parts) for c in first.nulls}
        infinite = {c: n for c in first.nulls if (n := sum(p.infinite.get(c, 0) for p in parts))}
        return cls(sum(p.rows for p in parts), dict(first.dtypes), nulls, labels, infinite)

    def all_null(self, column: str) -> bool:
        return self.nulls.get(column, 0) >= self.rows


def structural_checks(
    table_or_shape: pd.DataFrame | TableShape,
    table: TableName,
    config: GateConfig,
    reference: pd.DataFrame,
    features: list[str],
) -> list[Check]:
    """Rows present, target present and usable, features present with the reference's types.

    `reference` is the training data: the kinds of its columns are what the model expects. A table
    partitioned on a cluster is checked by its merged `TableShape`.
    """
    checks: list[Check] = []
    frame = (
        table_or_shape
        if isinstance(table_or_shape, TableShape)
        else TableShape.of(table_or_shape, config.target)
    )
    if frame.rows == 0:
        return [_fail(table, "empty", "has no rows", observed=0, threshold=1)]
    target = config.target
    for key, column, use in (
        ("time_column", config.time_column, "the comparison is judged per time fold of these rows"),
        ("cluster_column", config.cluster_column, "the paired bootstrap resamples these rows by entity"),
    ):
        if not column or table != "evaluation":
            continue
        if column not in frame.dtypes:
            checks.append(
                _fail(
                    table,
                    f"{key}_missing",
                    f"`{key}` is {column!r}, a column the table lacks; expected one of its columns ({use})",
                    column=column,
                )
            )
        elif frame.all_null(column):
            checks.append(
                _fail(table, f"{key}_empty", f"the {key} {column!r} holds no values", column=column)
            )
    if target not in frame.dtypes:
        checks.append(
            _fail(table, "target_missing", f"the target column {target!r} is missing", column=target)
        )
    else:
        dtype = frame.dtypes[target]
        nulls = frame.nulls.get(target, 0)
        if nulls:
            checks.append(
                _fail(
                    table,
                    "target_null",
                    f"{nulls} of {frame.rows} labels in {target!r} are empty",
                    column=target,
                    observed=nulls,
                    threshold=0,
                )
            )
        values = frame.labels
        if config.task == "regression":
            if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
                checks.append(
                    _fail(
                        table,
                        "target_type",
                        f"the target {target!r} is {dtype}; a regression target must be numeric",
                        column=target,
                        observed=str(dtype),
                        threshold="numeric",
                    )
                )
        elif table != "evaluation" and len(values) < 2:
            checks.append(
                _fail(
                    table,
                    "one_class",
                    f"every label in {target!r} is "
                    f"{values[0] if len(values) else None!r}; a classifier needs at "
                    "least two classes",
                    column=target,
                    observed=len(values),
                    threshold=2,
                )
            )
        if config.task == "classification" and table != "train" and target in reference.columns:
            known = set(map(str, pd.unique(reference[target].dropna())))
            unknown = sorted({str(v) for v in values} - known)
            if unknown:
                checks.append(
                    _fail(
                        table,
                        "unknown_label",
                        f"label values {unknown} in {target!r} "
                        f"are not among the training labels {sorted(known)}",
                        column=target,
                        observed=unknown,
                        threshold=sorted(known),
                    )
                )
    for col in features:  # no model takes an infinite value: one is a fault, whatever the tolerance
        if frame.infinite.get(col):
            count = frame.infinite[col]
            message = f"{count} of {frame.rows} values of feature {col!r} are infinite"
            checks.append(_fail(table, "infinite", message, column=col, observed=count, threshold=0))
    missing = [c for c in features if c not in frame.dtypes]
    for col in missing:
        checks.append(_fail(table, "column_missing", f"feature column {col!r} is missing", column=col))
    for col in features:
        if col in missing or col not in reference.columns or frame.all_null(col):
            continue
        want, got = _kind(reference[col].dtype), _kind(frame.dtypes[col])
        if want != got:
            checks.append(
                _fail(
                    table,
                    "column_type",
                    f"column {col!r} is {got} ({frame.dtypes[col]}); "
                    f"expected {want} as in the training data ({reference[col].dtype})",
                    column=col,
                    observed=str(frame.dtypes[col]),
                    threshold=str(reference[col].dtype),
                )
            )
    return checks


def segment_cap_checks(frame: pd.DataFrame, table: TableName, config: GateConfig) -> list[Check]:
    """A configured segment column with more values than `MAX_SEGMENTS` (an id, most likely): the
    largest segments are compared and written, the rest only in `overall`; said once, naming it."""
    from gatekeeper.data.segments import MAX_SEGMENTS, segment_counts

    return [
        Check(
            "segments.capped",
            "warn",
            f"segment column(s) {columns} take {count} values in the {table} rows: the {MAX_SEGMENTS} "
            f"largest segments are compared and reported, the other {count - MAX_SEGMENTS} count only in "
            "`overall` (an id is not a segment: name a coarser column in `segments`)",
            column=columns,
            table=table,
            observed=count,
            threshold=MAX_SEGMENTS,
        )
        for columns, count in segment_counts(frame, config.segment_columns).items()
        if count > MAX_SEGMENTS
    ]
