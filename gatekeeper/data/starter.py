"""Learn a starter Great Expectations suite from reference data, for a person to review."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gatekeeper.errors import ConfigError

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


def write_starter_suite(
    data: str, out: str | Path, *, target: str | None, id_columns: tuple[str, ...], force: bool
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
        suite = learn_suite(frame, out.stem, target=target, id_columns=id_columns, source=data)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    build_suite(suite, str(out))  # GX must load every entry, or nothing is written
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(suite, indent=2) + "\n")
    return (
        f"wrote {len(suite['expectations'])} expectations for {frame.shape[1]} columns to {out}; "
        "review them before use"
    )
