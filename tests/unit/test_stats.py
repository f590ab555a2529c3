from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from gatekeeper.stats import (
    HIGHER_IS_BETTER,
    compare_on_rows,
    encode_labels,
    gain,
    metric_value,
    relative_change,
    rows_where,
    segments_from_columns,
)


@pytest.fixture
def binary() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1)
    return y, np.column_stack([1 - p, p])


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("roc_auc", lambda y, p: skm.roc_auc_score(y, p[:, 1])),
        ("average_precision", lambda y, p: skm.average_precision_score(y, p[:, 1])),
        ("accuracy", lambda y, p: skm.accuracy_score(y, p[:, 1] > 0.5)),
        ("balanced_accuracy", lambda y, p: skm.balanced_accuracy_score(y, p[:, 1] > 0.5)),
        ("precision", lambda y, p: skm.precision_score(y, p[:, 1] > 0.5)),
        ("recall", lambda y, p: skm.recall_score(y, p[:, 1] > 0.5)),
        ("f1", lambda y, p: skm.f1_score(y, p[:, 1] > 0.5)),
        ("log_loss", lambda y, p: skm.log_loss(y, p)),
        ("brier", lambda y, p: skm.brier_score_loss(y, p[:, 1])),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_binary_metrics_equal_scikit_learn(binary, name, reference) -> None:
    y, proba = binary
    assert metric_value(name, y, proba, [0, 1]).value == pytest.approx(reference(y, proba), abs=1e-12)


def test_string_labels_and_positive_label() -> None:
    y = np.array(["no", "yes", "yes", "no"], dtype=object)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    assert metric_value("roc_auc", y, proba, ["no", "yes"]).value == 1.0
    # scoring "no" as the positive class reads the "no" column: still a perfect ranking
    assert metric_value("roc_auc", y, proba, ["no", "yes"], positive_label="no").value == 1.0
    # row 3 is "yes" with p(no)=0.6: predicted "no", so precision for "no" is 2/3
    assert metric_value("precision", y, proba, ["no", "yes"], positive_label="no").value == pytest.approx(
        2 / 3
    )


def test_multiclass_metrics() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    proba = np.eye(3)[[0, 1, 2, 1, 1, 0]] * 0.8 + 0.2 / 3
    assert metric_value("accuracy", y, proba, [0, 1, 2]).value == pytest.approx(5 / 6)
    assert metric_value("log_loss", y, proba, [0, 1, 2]).value == pytest.approx(skm.log_loss(y, proba))
    assert metric_value("roc_auc", y, proba, [0, 1, 2]).value == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr")
    )


def test_auc_on_one_class_is_undefined_with_reason_not_zero() -> None:
    value = metric_value("roc_auc", np.array([1, 1, 1]), np.full((3, 2), 0.5), [0, 1])
    assert value.value is None
    assert value.undefined_reason == "only one class present (1)"
    assert (
        metric_value("accuracy", np.array([], dtype=int), np.zeros((0, 2)), [0, 1]).undefined_reason
        == "no rows"
    )


def test_unknown_labels_are_named() -> None:
    with pytest.raises(ValueError, match=r"labels \['maybe'\] are not among"):
        encode_labels(np.array(["yes", "maybe"]), ["no", "yes"])


def test_gain_orients_lower_is_better_metrics() -> None:
    assert not HIGHER_IS_BETTER["log_loss"]
    assert gain("log_loss", -0.1) == 0.1
    assert gain("roc_auc", -0.1) == -0.1


@pytest.mark.parametrize(
    ("metric", "champion", "candidate", "expected"),
    [
        ("roc_auc", 0.80, 0.84, 0.05),
        ("log_loss", 0.50, 0.40, 0.2),
        ("roc_auc", 0.8, 0.76, -0.05),
        ("accuracy", 0.0, 0.0, 0.0),
    ],
    ids=["auc-up", "logloss-down-is-gain", "auc-down", "zero-champion"],
)
def test_relative_change_is_oriented_gain_over_abs_champion(metric, champion, candidate, expected) -> None:
    assert relative_change(metric, champion, candidate) == pytest.approx(expected)


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


def test_compare_on_rows_without_champion_has_no_delta(binary) -> None:
    y, proba = binary
    boot = compare_on_rows("roc_auc", y, proba, None, [0, 1])
    assert boot.champion is None
    assert boot.delta is None
    same = compare_on_rows("roc_auc", y, proba, proba, [0, 1])
    assert same.delta == 0.0
