"""Learn a starter Great Expectations suite from reference data, for a person to review."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

MAX_CATEGORIES = 50
_TYPE_LISTS = {
    "i": ["int64", "int32", "int16", "int8", "Int64", "Int32"],
    "u": ["uint64", "uint32", "uint16", "uint8", "int64", "Int64"],
    "f": ["float64", "float32", "Float64", "Float32"],
    "b": ["bool", "boolean"],
}


def _expect(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs}


def learn_suite(
    frame: pd.DataFrame,
    name: str,
    *,
    target: str | None = None,
    id_columns: tuple[str, ...] = (),
    source: str = "reference data",
    range_margin: float = 0.5,
) -> dict[str, Any]:
    """Types, null tolerances, value sets and ranges with margins, as a GX 1.x suite (a dict)."""
    if len(frame) == 0:
        raise ValueError(f"{source} has no rows to learn expectations from")
    if target is not None and target not in frame.columns:
        from gatekeeper.errors import did_you_mean

        raise ValueError(
            f"--target must name a column of {source}; got {target!r}{did_you_mean(target, frame.columns)}"
        )
    expectations = [
        _expect("expect_table_columns_to_match_set", column_set=list(frame.columns), exact_match=False),
        _expect("expect_table_row_count_to_be_between", min_value=1),
    ]
    for column in frame.columns:
        series = frame[column]
        null_rate = float(series.isna().mean())
        strict = column == target or column in id_columns
        if null_rate == 0 and strict:
            expectations.append(_expect("expect_column_values_to_not_be_null", column=column))
        else:
            mostly = round(max(0.0, 1.0 - (2 * null_rate + 0.01)), 4)
            expectations.append(_expect("expect_column_values_to_not_be_null", column=column, mostly=mostly))
        if column in id_columns:
            expectations.append(_expect("expect_column_values_to_be_unique", column=column))
            continue
        present = series.dropna()
        kind = series.dtype.kind
        if kind in _TYPE_LISTS:
            expectations.append(
                _expect("expect_column_values_to_be_in_type_list", column=column, type_list=_TYPE_LISTS[kind])
            )
        if kind in "iuf" and len(present) and present.nunique() > MAX_CATEGORIES:
            low, high = float(present.min()), float(present.max())
            margin = range_margin * max(high - low, abs(float(present.median())))
            lo = low - margin if low < 0 or low - margin >= 0 else 0.0  # a non-negative feature stays so
            expectations.append(
                _expect(
                    "expect_column_values_to_be_between",
                    column=column,
                    min_value=round(lo, 6),
                    max_value=round(high + margin, 6),
                    mostly=0.999,
                )
            )
        elif len(present) and present.nunique() <= MAX_CATEGORIES:
            values = sorted(present.unique().tolist(), key=str)
            values = [v.item() if hasattr(v, "item") else v for v in values]
            extra = {} if column == target else {"mostly": 0.99}
            expectations.append(
                _expect("expect_column_values_to_be_in_set", column=column, value_set=values, **extra)
            )
    learned = datetime.now(UTC).strftime("%Y-%m-%d")
    return {
        "name": name,
        "meta": {
            "notes": f"Starter suite learned from {source} ({len(frame)} rows) by `gatekeeper "
            f"init-expectations` on {learned}. Review every expectation before relying on it: "
            "ranges carry a margin of half their width, null tolerances twice the reference rate."
        },
        "expectations": expectations,
    }
