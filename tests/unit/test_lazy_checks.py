"""What the Dask engine merges from partitions equals what one process computes on the whole table:
the structural checks' TableShape, and suite outcomes (unexpected counts, row counts, schema)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.lazy import merge_outcomes
from gatekeeper.data.structure import TableShape, structural_checks
from gatekeeper.data.suites import Outcome
from tests.builders import make_config


def table(seed: int, n: int = 500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "y": rng.choice(["a", "b"], n),
            "x": rng.normal(size=n),
            "c": rng.choice(["p", "q", "r"], n),
        }
    )
    # a fault in a random stretch of rows: nulls in one column, an unknown label
    start = int(rng.integers(0, n - 50))
    frame.loc[start : start + 40, str(rng.choice(["x", "c"]))] = None
    frame.loc[int(rng.integers(0, n)), "y"] = "z"
    return frame


def split(frame: pd.DataFrame, seed: int) -> list[pd.DataFrame]:
    cuts = np.sort(np.random.default_rng(seed).choice(np.arange(1, len(frame)), 4, replace=False))
    return [frame.iloc[a:b] for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True)]


@pytest.mark.parametrize("seed", range(5))
def test_merged_shape_equals_the_whole_tables(seed: int) -> None:
    frame = table(seed)
    merged = TableShape.merge([TableShape.of(p, "y") for p in split(frame, seed)])
    whole = TableShape.of(frame, "y")
    assert (merged.rows, merged.nulls, set(merged.labels)) == (whole.rows, whole.nulls, set(whole.labels))
    config = make_config(target="y", features=["x", "c"])
    reference = table(seed + 100).assign(y=lambda f: f["y"].where(f["y"] != "z", "a"))
    on_parts = structural_checks(merged, "evaluation", config, reference, ["x", "c"])
    on_whole = structural_checks(frame, "evaluation", config, reference, ["x", "c"])
    assert [c.message for c in on_parts] == [c.message for c in on_whole]
    assert any(c.check == "validation.unknown_label" for c in on_parts)


def outcome(kind: str, success: bool, **details: int) -> Outcome:
    return Outcome(kind, {"column": "x", "mostly": 0.95}, {}, success, dict(details))


def test_unexpected_counts_add_up_and_mostly_is_judged_on_the_sum() -> None:
    kind = "expect_column_values_to_be_in_set"
    # each partition alone passes `mostly: 0.95` narrowly or fails; the whole is judged on the sums
    parts = [
        outcome(kind, True, element_count=100, missing_count=0, unexpected_count=4),
        outcome(kind, False, element_count=100, missing_count=10, unexpected_count=9),
        outcome(kind, True, element_count=800, missing_count=0, unexpected_count=0),
    ]
    merged = merge_outcomes(parts)
    assert merged.success  # 13 of 990 non-null values: 98.7% expected
    assert merged.details["unexpected_count"] == 13
    assert merged.details["element_count"] == 1000
    worse = merge_outcomes(
        [*parts, outcome(kind, False, element_count=100, missing_count=0, unexpected_count=60)]
    )
    assert not worse.success


def test_row_count_is_the_sum_and_schema_fails_when_any_partition_does() -> None:
    rows = Outcome(
        "expect_table_row_count_to_be_between",
        {"min_value": 150, "max_value": 250},
        {},
        False,
        {"observed_value": 100},
    )
    assert merge_outcomes([rows, rows]).success  # 200 rows in all, though each part has 100
    assert not merge_outcomes([rows, rows, rows]).success
    ok = Outcome(
        "expect_column_values_to_be_in_type_list", {"column": "x"}, {}, True, {"observed_value": "int"}
    )
    bad = Outcome(
        "expect_column_values_to_be_in_type_list", {"column": "x"}, {}, False, {"observed_value": "str"}
    )
    assert merge_outcomes([ok, bad, ok]) == bad


def test_a_failure_without_counts_is_not_added_away() -> None:
    """A per-row expectation whose partitions report no counts fails when any partition failed."""
    kind = "expect_column_values_to_match_regex"
    ok = Outcome(kind, {"column": "x"}, {}, True, {})
    bad = Outcome(kind, {"column": "x"}, {}, False, {})
    assert merge_outcomes([ok, bad]) == bad
    assert merge_outcomes([ok, ok]).success
