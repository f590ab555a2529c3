"""Structural checks of the gate's tables (pure pandas): the schema the model relies on."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.vocabulary import Check, TableName


def _fail(table: TableName, check: str, message: str, **kw: Any) -> Check:
    return Check(f"validation.{check}", "block", f"{table}: {message}", table=table, **kw)


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "categorical"


def structural_checks(
    frame: pd.DataFrame, table: TableName, config: GateConfig, reference: pd.DataFrame, features: list[str]
) -> list[Check]:
    """Rows present, target present and usable, features present with the reference's types.

    `reference` is the training data: the kinds of its columns are what the model expects.
    """
    checks: list[Check] = []
    if len(frame) == 0:
        return [_fail(table, "empty", "has no rows", observed=0, threshold=1)]
    target = config.target
    for key, column, use in (
        ("time_column", config.time_column, "the comparison is judged per time fold of these rows"),
        ("cluster_column", config.cluster_column, "the paired bootstrap resamples these rows by entity"),
    ):
        if not column or table != "evaluation":
            continue
        if column not in frame.columns:
            checks.append(
                _fail(
                    table,
                    f"{key}_missing",
                    f"`{key}` is {column!r}, a column the table lacks; expected one of its columns ({use})",
                    column=column,
                )
            )
        elif frame[column].isna().all():
            checks.append(
                _fail(table, f"{key}_empty", f"the {key} {column!r} holds no values", column=column)
            )
    if target not in frame.columns:
        checks.append(
            _fail(table, "target_missing", f"the target column {target!r} is missing", column=target)
        )
    else:
        labels = frame[target]
        nulls = int(labels.isna().sum())
        if nulls:
            checks.append(
                _fail(
                    table,
                    "target_null",
                    f"{nulls} of {len(frame)} labels in {target!r} are empty",
                    column=target,
                    observed=nulls,
                    threshold=0,
                )
            )
        values = pd.unique(labels.dropna())
        if config.task == "regression":
            if not pd.api.types.is_numeric_dtype(labels) or pd.api.types.is_bool_dtype(labels):
                checks.append(
                    _fail(
                        table,
                        "target_type",
                        f"the target {target!r} is {labels.dtype}; a regression target must be numeric",
                        column=target,
                        observed=str(labels.dtype),
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
    missing = [c for c in features if c not in frame.columns]
    for col in missing:
        checks.append(_fail(table, "column_missing", f"feature column {col!r} is missing", column=col))
    for col in features:
        if col in missing or col not in reference.columns or frame[col].isna().all():
            continue
        want, got = _kind(reference[col]), _kind(frame[col])
        if want != got:
            checks.append(
                _fail(
                    table,
                    "column_type",
                    f"column {col!r} is {got} ({frame[col].dtype}); "
                    f"expected {want} as in the training data ({reference[col].dtype})",
                    column=col,
                    observed=str(frame[col].dtype),
                    threshold=str(reference[col].dtype),
                )
            )
    return checks
