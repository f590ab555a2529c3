"""Three or more classes, the pure parts: metrics equal scikit-learn's, recall per class with its
paired interval, and the classes that drive a segment's change."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import log_loss, recall_score, roc_auc_score

from gatekeeper.compare.bootstrap import class_recall
from gatekeeper.compare.rows import PairedRows
from gatekeeper.decide.decision import SegmentResult, decision_to_dict, read_decision
from gatekeeper.findings import ClassRecall
from gatekeeper.metrics import estimate
from tests.builders import evidence, make_config

CLASSES = ["basic", "family", "pro", "team"]


def three_or_four(seed: int, k: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    candidate = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    worse = logits + rng.normal(0, 1.5, size=(n, k))
    champion = np.exp(worse) / np.exp(worse).sum(axis=1, keepdims=True)
    return y, candidate, champion


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 4), (2, 3)])
def test_multiclass_metrics_equal_scikit_learns(seed: int, k: int) -> None:
    y, proba, _ = three_or_four(seed, k)
    targets = PairedRows.from_labels(np.array(CLASSES)[y], proba, None, CLASSES[:k]).targets
    assert estimate("roc_auc", targets, proba).value == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert estimate("log_loss", targets, proba).value == pytest.approx(
        log_loss(y, proba, labels=list(range(k)))
    )
    assert estimate("recall", targets, proba).value == pytest.approx(
        recall_score(y, proba.argmax(axis=1), average="macro")
    )


def test_recall_per_class_is_scikit_learns_with_a_paired_interval() -> None:
    y, candidate, champion = three_or_four(3, 3)
    rows = PairedRows.from_labels(np.array(CLASSES)[y], candidate, champion, CLASSES[:3])
    found = class_recall(rows)
    assert [c.label for c in found] == CLASSES[:3]
    np.testing.assert_allclose(
        [c.candidate for c in found], recall_score(y, candidate.argmax(axis=1), average=None)
    )
    np.testing.assert_allclose(
        [c.champion for c in found], recall_score(y, champion.argmax(axis=1), average=None)
    )
    for c in found:
        assert c.delta == pytest.approx(c.candidate - (c.champion or 0.0))
        assert c.ci_low is not None
        assert c.ci_high is not None
        assert c.ci_low < c.delta < c.ci_high
        assert c.clear  # the candidate is much better for every class here
    assert sum(c.n for c in found) == rows.n
    assert class_recall(PairedRows.regression(np.ones(3), np.ones(3), None)) == []


def test_the_interval_covers_a_null_change_at_about_its_level() -> None:
    """Champion and candidate equally good (independent errors): the 95% interval covers 0 about 95%
    of the time."""
    covered = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 3, 600)
        models = [np.eye(3)[np.where(rng.random(600) < 0.7, y, (y + 1) % 3)] for _ in range(2)]
        first = class_recall(PairedRows.from_labels(y, models[0], models[1], [0, 1, 2]))[0]
        assert first.ci_low is not None
        assert first.ci_high is not None
        covered += bool(first.ci_low <= 0 <= first.ci_high)
    assert 0.90 <= covered / 200 <= 0.99


def test_the_classes_driving_a_change_largest_first_and_thin_classes_said() -> None:
    row = SegmentResult(
        segment="region=south",
        n=1000,
        status="improved",
        class_recall=[
            ClassRecall("basic", 500, 0.80, 0.79, 0.01, -0.02, 0.04),
            ClassRecall("pro", 300, 0.70, 0.52, 0.18, 0.12, 0.24),
            ClassRecall("family", 190, 0.60, 0.66, -0.06, -0.11, -0.01),
            ClassRecall("team", 10, 0.1, 0.9, -0.8, -1.0, -0.6),
        ],
    )
    text = row.driving_classes(min_rows=20)
    assert text == (
        "pro: +0.180 [+0.120, +0.240] (30% of rows); family: -0.060 [-0.110, -0.010] (19% of rows); "
        "basic: +0.010 [-0.020, +0.040] (50% of rows), within noise; too few rows to say: team"
    )


def test_class_recall_round_trips_through_decision_json() -> None:
    from gatekeeper.decide.policy import decide

    y, candidate, champion = three_or_four(4, 3)
    rows = PairedRows.from_labels(y, candidate, champion, [0, 1, 2])
    config = make_config(
        primary_metric="log_loss", secondary_metrics=["recall"], segments=[], key_segments=[]
    )
    from gatekeeper.compare.bootstrap import compare_segment

    overall = compare_segment(
        "overall", {}, rows, ["log_loss", "recall"], n_resamples=200, rng=np.random.default_rng(0)
    )
    decision = decide(replace(evidence(metric="log_loss", beta=None), overall=overall, segments=[]), config)
    assert decision.overall is not None
    assert [c.label for c in decision.overall.class_recall] == ["0", "1", "2"]
    again = read_decision(decision_to_dict(decision))
    assert again.overall == decision.overall
