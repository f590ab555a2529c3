"""Learn a starter Great Expectations suite from reference data, for a person to review."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gatekeeper.data.tolerance import mostly, rate_upper_bound, tolerated_share
from gatekeeper.errors import ConfigError

MAX_CATEGORIES = 50
_TYPE_LISTS = {
    "i": ["int64", "int32", "int16", "int8", "Int64", "Int32"],
    "u": ["uint64", "uint32", "uint16", "uint8", "int64", "Int64"],
    "f": ["float64", "float32", "Float64", "Float32"],
    "b": ["bool", "boolean"],
}


Role = Literal["invariant", "reference"]


def _expect(kind: str, role: Role, basis: str, **kwargs: Any) -> dict[str, Any]:
    """An expectation with `meta.role` (what must hold, or what describes the reference) and its basis."""
    return {"type": kind, "kwargs": kwargs, "meta": {"role": role, "basis": basis}}


def _share(k: int, n: int, m: int) -> tuple[float, str]:
    """The tolerated share for a rate seen k times in n rows, judged on samples of m rows, and why."""
    tolerated = tolerated_share(k, n, m)
    basis = (
        f"seen in {k:,} of {n:,} reference rows ({k / n:.2%}; 95% upper bound "
        f"{rate_upper_bound(k, n):.2%}); a healthy sample of {m:,} rows stays within {tolerated:.2%} "
        "with probability 0.999"
    )
    return tolerated, basis


def natural_bounds(present: pd.Series) -> tuple[dict[str, float], str]:
    """The bounds a numeric column has by nature, as far as the reference shows them, and why.

    Learned minima and maxima are not bounds: the next window of healthy data goes past them (a
    rate that was positive for a year turns negative). Zero is a natural floor only where the data
    reach it: an integer count that takes the value 0, or a measure that varies (10+ values) whose
    minimum lies within a tenth of its range above 0. One is a natural ceiling only for a share:
    such a measure, not integer-valued, never above 1.
    """
    numbers = present.to_numpy(dtype=float)
    low, high = float(numbers.min()), float(numbers.max())
    integer = bool(np.all(np.equal(np.mod(numbers, 1), 0)))
    varied = len(np.unique(numbers)) >= 10
    if low < 0 or not ((integer and low == 0) or (varied and low <= 0.1 * (high - low))):
        return {}, ""
    if varied and not integer and high <= 1:
        return {"min_value": 0, "max_value": 1}, "a share: in [0, 1] wherever the reference varies"
    return {"min_value": 0}, "never negative, and the reference reaches 0; no upper bound by nature"


def _column_expectations(
    series: pd.Series, column: str, *, target: str | None, id_columns: tuple[str, ...], m: int
) -> list[dict[str, Any]]:
    n = len(series)
    out = []
    nulls = int(series.isna().sum())
    if nulls == 0 and (column == target or column in id_columns):
        out.append(
            _expect(
                "expect_column_values_to_not_be_null",
                "invariant",
                "a label or id is never empty",
                column=column,
            )
        )
    else:
        tolerated, basis = _share(nulls, n, m)
        if tolerated < 1:
            out.append(
                _expect(
                    "expect_column_values_to_not_be_null", "reference", f"nulls {basis}",
                    column=column, mostly=mostly(tolerated),
                )
            )  # fmt: skip
    if column in id_columns:
        out.append(
            _expect("expect_column_values_to_be_unique", "invariant", "an id names one row", column=column)
        )
        return out
    present = series.dropna()
    kind = series.dtype.kind
    if kind in _TYPE_LISTS:
        out.append(
            _expect(
                "expect_column_values_to_be_in_type_list", "invariant", "the type the model was trained on",
                column=column, type_list=_TYPE_LISTS[kind],
            )
        )  # fmt: skip
    if not len(present):
        return out
    if column == target and present.nunique() <= MAX_CATEGORIES:
        values = sorted((v.item() if hasattr(v, "item") else v for v in present.unique()), key=str)
        out.append(
            _expect("expect_column_values_to_be_in_set", "invariant", "the labels the model knows",
                    column=column, value_set=values)
        )  # fmt: skip
        return out
    if kind in "iuf":
        bounds, what = natural_bounds(present)
        if bounds:
            tolerated, basis = _share(0, len(present), m)
            out.append(
                _expect(
                    "expect_column_values_to_be_between", "reference", f"{what}: values outside {basis}",
                    column=column, mostly=mostly(tolerated), **bounds,
                )
            )  # fmt: skip
        return out
    counts = present.astype(str).value_counts()
    if len(counts) > MAX_CATEGORIES:
        return out
    values = sorted((v.item() if hasattr(v, "item") else v for v in present.unique()), key=str)
    # a category not in the reference: as likely as the reference's once-seen categories (Good-Turing)
    tolerated, basis = _share(int((counts == 1).sum()), len(present), m)
    out.append(
        _expect(
            "expect_column_values_to_be_in_set", "reference", f"categories seen once (Good-Turing) {basis}",
            column=column, value_set=values, mostly=mostly(tolerated),
        )
    )  # fmt: skip
    return out


def learn_suite(
    frame: pd.DataFrame,
    name: str,
    *,
    target: str | None = None,
    id_columns: tuple[str, ...] = (),
    source: str = "reference data",
    min_rows: int = 200,
) -> dict[str, Any]:
    """A GX 1.x suite (a dict) that a healthy sample of `min_rows` or more rows passes.

    Invariants (`meta.role: invariant`: columns present, types, labels and ids complete and valid)
    block when they fail. Descriptions of the reference (`meta.role: reference`: null rates, natural
    numeric bounds, category sets) carry a `mostly` from the reference's rate, its uncertainty and the
    sampling noise of `min_rows` rows, and the gate judges their failures by effect and sample size.
    """
    if len(frame) == 0:
        raise ValueError(f"{source} has no rows to learn expectations from")
    if target is not None and target not in frame.columns:
        from gatekeeper.errors import did_you_mean

        raise ValueError(
            f"--target must name a column of {source}; got {target!r}{did_you_mean(target, frame.columns)}"
        )
    expectations = [
        _expect(
            "expect_table_columns_to_match_set", "invariant", "the columns of the reference",
            column_set=list(frame.columns), exact_match=False,
        ),
        _expect("expect_table_row_count_to_be_between", "invariant", "a table has rows", min_value=1),
    ]  # fmt: skip
    for column in frame.columns:
        expectations += _column_expectations(
            frame[column], str(column), target=target, id_columns=id_columns, m=min_rows
        )
    learned = datetime.now(UTC).strftime("%Y-%m-%d")
    return {
        "name": name,
        "meta": {
            "notes": f"Starter suite learned from {source} ({len(frame)} rows) by `gatekeeper "
            f"init-expectations` on {learned}. Each expectation's meta says its role and how it was set: "
            "`invariant` ones (columns, types, labels, ids) block; `reference` ones describe the reference "
            f"with tolerances a healthy sample of {min_rows} rows passes with probability 0.999, and the "
            "gate blocks on them only when a change is large and beyond sampling noise. Numbers get only "
            "their natural bounds (never negative, a share), never the learned min and max. Review every "
            "expectation before relying on it."
        },
        "expectations": expectations,
    }


def write_starter_suite(
    data: str,
    out: str | Path,
    *,
    target: str | None,
    id_columns: tuple[str, ...],
    force: bool,
    min_rows: int = 200,
) -> str:
    """Learn a suite from `data`, check that GX loads every entry, write it to `out`; say what was done.

    Nothing is written when `out` exists (unless `force`) or when GX would drop an entry.
    """
    import json

    from gatekeeper.data.suites import build_suite
    from gatekeeper.data.tables import read_table

    out = Path(out)
    if out.suffix != ".json":
        raise ConfigError(f"--out must be a .json file named after the suite; got {str(out)!r}")
    if out.exists() and not force:
        raise ConfigError(f"{str(out)!r} exists; pass --force to overwrite it (nothing was written)")
    frame = read_table(data)
    try:
        suite = learn_suite(
            frame, out.stem, target=target, id_columns=id_columns, source=data, min_rows=min_rows
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    build_suite(suite, str(out))  # GX must load every entry, or nothing is written
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(suite, indent=2) + "\n")
    return (
        f"wrote {len(suite['expectations'])} expectations for {frame.shape[1]} columns to {out}; "
        "review them before use"
    )
