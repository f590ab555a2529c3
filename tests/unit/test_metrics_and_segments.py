from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.segments import rows_where, segments_from_columns
from gatekeeper.metrics import METRICS, metric, metrics_for
from gatekeeper.stats.rows import encode_labels


def test_unknown_labels_are_named() -> None:
    with pytest.raises(ValueError, match=r"labels \['maybe'\] are not among"):
        encode_labels(np.array(["yes", "maybe"]), ["no", "yes"])


def test_gain_orients_lower_is_better_metrics() -> None:
    assert not metric("log_loss").higher_is_better
    assert metric("log_loss").gain(-0.1) == 0.1
    assert metric("roc_auc").gain(-0.1) == -0.1


def test_every_metric_is_one_registry_entry_that_fits_a_task() -> None:
    assert set(metrics_for("classification")) | set(metrics_for("regression")) == set(METRICS)
    assert not set(metrics_for("classification")) & set(metrics_for("regression"))
    assert {m.bootstrap for m in METRICS.values()} == {"exact mean", "linearised"}  # none per resample
    with pytest.raises(ValueError, match=r"unknown metric 'auc'.*did you mean"):
        metric("auc")


@pytest.mark.parametrize(
    ("name", "champion", "candidate", "expected"),
    [
        ("roc_auc", 0.80, 0.84, 0.05),
        ("log_loss", 0.50, 0.40, 0.2),
        ("roc_auc", 0.8, 0.76, -0.05),
        ("accuracy", 0.0, 0.0, 0.0),
    ],
    ids=["auc-up", "logloss-down-is-gain", "auc-down", "zero-champion"],
)
def test_relative_change_is_oriented_gain_over_abs_champion(name, champion, candidate, expected) -> None:
    assert metric(name).relative_change(champion, candidate) == pytest.approx(expected)


def test_segments_one_per_value_and_intersections_with_missing_values() -> None:
    frame = pd.DataFrame({"browser": ["a", "a", "b", None], "country": ["x", "y", "x", "x"]})
    names = [s.name for s in segments_from_columns(frame, [["browser"], ["browser", "country"]])]
    assert names == [
        "browser=<missing>",
        "browser=a",
        "browser=b",
        "browser=<missing> & country=x",
        "browser=a & country=x",
        "browser=a & country=y",
        "browser=b & country=x",
    ]
    seg = segments_from_columns(frame, [["browser"]])[1]
    assert seg.where == {"browser": "a"}
    assert list(seg.index) == [0, 1]


def test_rows_where_compares_numbers_as_numbers_and_text_as_text() -> None:
    frame = pd.DataFrame({"tier": [1.0, 2.0, 1.0], "browser": ["a", "b", "a"], "flag": [True, False, True]})
    assert list(rows_where(frame, {"tier": 1})) == [0, 2]
    assert list(rows_where(frame, {"browser": "a", "tier": 1})) == [0, 2]
    assert list(rows_where(frame, {"flag": True})) == [0, 2]
    assert list(rows_where(frame, {"browser": "zzz"})) == []


def test_segments_of_an_empty_frame_are_empty() -> None:
    assert segments_from_columns(pd.DataFrame({"browser": pd.Series([], dtype=str)}), [["browser"]]) == []


def test_a_segment_column_with_too_many_values_keeps_the_largest_and_says_so() -> None:
    """An id named as a segment column (120,000 values took 390 s and 5 GB, and a 152 MB
    decision.json): the 500 largest segments, and a warning naming the column and the count."""
    import pandas as pd

    from gatekeeper.data.segments import MAX_SEGMENTS, segments_from_columns
    from gatekeeper.data.structure import segment_cap_checks
    from tests.builders import make_config

    rng = np.random.default_rng(0)
    ids = np.concatenate([np.repeat(["big-a", "big-b"], 300), rng.integers(0, 5_000, 20_000).astype(str)])
    frame = pd.DataFrame({"customer": ids, "region": rng.choice(["n", "s"], len(ids)), "y": 0})
    found = segments_from_columns(frame, [["customer"], ["region"]])
    customers = [s for s in found if "customer" in s.where]
    assert len(customers) == MAX_SEGMENTS
    assert {"customer=big-a", "customer=big-b"} <= {s.name for s in customers}  # the largest kept
    assert len([s for s in found if "region" in s.where]) == 2  # other columns untouched
    config = make_config(target="y", segments=["customer", "region"], key_segments=[])
    [warning] = segment_cap_checks(frame, "evaluation", config)
    assert (warning.check, warning.effect, warning.column) == ("segments.capped", "warn", "customer")
    assert f"take {frame['customer'].nunique()} values" in warning.message
