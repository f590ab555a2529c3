"""Three or more classes, the pure parts: the macro metrics equal scikit-learn's and their influence
is the first-order change the paired bootstrap resamples; recall per class with its paired interval;
the classes that drive a segment's change (report, segments.csv, a warning when one class falls
while the average holds); decision.json round trips."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import log_loss, recall_score, roc_auc_score

from gatekeeper.compare.segments import compare_models
from gatekeeper.decide.decision import (
    Decision,
    Evidence,
    SegmentResult,
    decision_to_dict,
    read_decision,
    with_comparison,
)
from gatekeeper.decide.policy import decide
from gatekeeper.findings import ClassRecall
from gatekeeper.metrics import Targets, estimate
from gatekeeper.report.classes import driving_classes
from gatekeeper.report.markdown import render_markdown, segments_csv
from gatekeeper.stats.bootstrap import class_recall, compare_segment, paired_delta
from gatekeeper.stats.rows import PairedRows
from tests.builders import make_config

CLASSES = ["basic", "family", "pro", "team"]
REGIONS = ["north", "south", "east"]


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def three_or_four(seed: int, k: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels 0..k-1, a candidate and a noisier champion (class probabilities)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.5
    return y, softmax(logits), softmax(logits + rng.normal(0, 1.5, size=(n, k)))


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 4), (2, 3)], ids=["3-classes", "4-classes", "3-again"])
def test_multiclass_metrics_equal_scikit_learns(seed: int, k: int) -> None:
    y, proba, _ = three_or_four(seed, k)
    targets = PairedRows.from_labels(np.array(CLASSES)[y], proba, None, CLASSES[:k]).targets
    assert targets.positive is None  # no positive class beyond two classes
    assert estimate("roc_auc", targets, proba).value == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert estimate("log_loss", targets, proba).value == pytest.approx(
        log_loss(y, proba, labels=list(range(k)))
    )
    assert estimate("recall", targets, proba).value == pytest.approx(
        recall_score(y, proba.argmax(axis=1), average="macro")
    )


def test_macro_auc_is_undefined_where_a_class_is_absent_as_in_scikit_learn() -> None:
    y, proba, _ = three_or_four(5, 3)
    keep = y != 2
    found = estimate("roc_auc", Targets(y[keep], (0, 1, 2)), proba[keep])
    assert found.value is None
    assert found.undefined_reason == "not every class is present for a one-vs-rest average"
    with pytest.raises(ValueError, match="Number of classes"):
        roc_auc_score(y[keep], proba[keep], multi_class="ovr")
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(roc_auc_score(y[keep], proba[keep], multi_class="ovr", labels=[0, 1, 2]))


@pytest.mark.parametrize("name", ["roc_auc", "log_loss", "recall"])
def test_each_rows_influence_is_the_first_order_change_of_the_macro_metric(name: str) -> None:
    """Adding a copy of row i moves the metric by influence_i / n (to first order): what the paired
    bootstrap's linearisation resamples."""
    y, proba, _ = three_or_four(6, 3, n=4000)
    targets = Targets(y, (0, 1, 2))
    found = estimate(name, targets, proba)
    assert found.value is not None
    assert found.influence is not None
    assert abs(found.influence.mean()) < 1e-9
    for i in np.random.default_rng(0).choice(len(y), 12, replace=False):
        more = np.append(np.arange(len(y)), i)
        moved = estimate(name, Targets(y[more], (0, 1, 2)), proba[more]).value
        assert moved is not None
        assert moved - found.value == pytest.approx(found.influence[i] / len(y), rel=0.02, abs=2e-7)


# ---------------------------------------------------------------- recall per class


def test_recall_per_class_is_scikit_learns_with_a_paired_bootstrap_interval() -> None:
    y, candidate, champion = three_or_four(3, 3)
    rows = PairedRows.from_labels(np.array(CLASSES)[y], candidate, champion, CLASSES[:3])
    found = class_recall(rows, n_resamples=1000, rng=np.random.default_rng(0))
    assert [c.label for c in found] == CLASSES[:3]
    np.testing.assert_allclose(
        [c.candidate for c in found], recall_score(y, candidate.argmax(axis=1), average=None)
    )
    np.testing.assert_allclose(
        [c.champion for c in found], recall_score(y, champion.argmax(axis=1), average=None)
    )
    for c in found:
        assert c.delta == pytest.approx(c.candidate - (c.champion or 0.0))
        lo, hi = c.interval(0.95)
        assert lo is not None
        assert hi is not None
        assert 0 < lo < c.delta < hi  # the candidate is much better for every class here
    assert sum(c.n for c in found) == rows.n
    assert (
        class_recall(
            PairedRows.regression(np.ones(3), np.ones(3), None), n_resamples=10, rng=np.random.default_rng(0)
        )
        == []
    )
    bootstrap = class_recall(replace(rows, champion=None), n_resamples=10, rng=np.random.default_rng(0))
    assert [(c.champion, c.delta, c.resamples) for c in bootstrap] == [(None, None, None)] * 3


def test_a_class_absent_from_a_segment_is_left_out() -> None:
    y, candidate, champion = three_or_four(4, 3, n=500)
    keep = y != 1
    rows = PairedRows(y[keep], candidate[keep], champion[keep], ["a", "b", "c"])
    assert [c.label for c in class_recall(rows, n_resamples=50, rng=np.random.default_rng(0))] == ["a", "c"]


def test_the_class_interval_covers_a_null_change_at_about_its_level() -> None:
    """Champion and candidate equally good (independent errors): the 95% interval covers 0 about 95%
    of the time."""
    covered = 0
    trials = 300
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 3, 600)
        models = [np.eye(3)[np.where(rng.random(600) < 0.7, y, (y + 1) % 3)] for _ in range(2)]
        rows = PairedRows.from_labels(y, models[0], models[1], [0, 1, 2])
        lo, hi = class_recall(rows, n_resamples=400, rng=rng)[0].interval(0.95)
        assert lo is not None
        assert hi is not None
        covered += bool(lo <= 0 <= hi)
    assert 0.91 <= covered / trials <= 0.98


def test_the_class_interval_resamples_whole_clusters_when_rows_carry_them() -> None:
    """Ten rows per customer that share one outcome: row resampling counts each customer ten times
    over; cluster resampling sees 300 customers, and its interval is about sqrt(10) wider."""
    rng = np.random.default_rng(8)
    customers = 300
    y = np.repeat(rng.integers(0, 3, customers), 10)
    right = np.repeat(rng.random((customers, 2)) < [0.8, 0.6], 10, axis=0)
    cand, champ = (np.eye(3)[np.where(right[:, m], y, (y + 1) % 3)] for m in (0, 1))
    rows = PairedRows(y, cand, champ, [0, 1, 2])
    by_row = class_recall(rows, n_resamples=2000, rng=np.random.default_rng(1))[0]
    clustered = rows.with_clusters(np.repeat(np.arange(customers), 10))
    by_customer = class_recall(clustered, n_resamples=2000, rng=np.random.default_rng(1))[0]
    width = [
        hi - lo
        for lo, hi in (c.interval(0.95) for c in (by_row, by_customer))
        if lo is not None and hi is not None
    ]
    assert 2.2 < width[1] / width[0] < 4.5


def test_the_class_resamples_leave_the_metrics_draws_unchanged() -> None:
    """Per-class resamples come from a child stream: a segment's metric intervals are what they
    were before recall per class was measured."""
    y, candidate, champion = three_or_four(9, 3, n=1000)
    rows = PairedRows(y, candidate, champion, [0, 1, 2])
    seg = compare_segment("overall", {}, rows, ["roc_auc"], n_resamples=300, rng=np.random.default_rng(3))
    alone = paired_delta("roc_auc", rows, n_resamples=300, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(seg.primary.resamples, alone.resamples)
    assert len(seg.classes) == 3


# ---------------------------------------------------------------- which classes drive a change


def plan_world(seed: int, fault: tuple[str, str] | None, n: int = 9000) -> tuple[pd.DataFrame, PairedRows]:
    """Three plans in three regions; the candidate ranks better everywhere, but where `fault` says
    (region, plan) its score for that plan is pushed down by a constant: the plan's own ranking
    there is untouched, its rows are predicted as the other plans."""
    rng = np.random.default_rng(seed)
    plans = ["basic", "family", "pro"]
    region = rng.choice(REGIONS, n, p=[0.4, 0.35, 0.25])
    y = rng.integers(0, 3, n)
    signal = np.zeros((n, 3))
    signal[np.arange(n), y] = 1.0
    champion = signal * 1.0 + rng.normal(size=(n, 3))
    candidate = signal * 1.4 + rng.normal(size=(n, 3))
    if fault is not None:
        where, plan = fault
        candidate[region == where, plans.index(plan)] -= 1.5
    frame = pd.DataFrame({"region": region, "plan": np.array(plans)[y]})
    rows = PairedRows.from_labels(frame["plan"].to_numpy(), softmax(candidate), softmax(champion), plans)
    return frame, rows


def gate(frame: pd.DataFrame, rows: PairedRows, **overrides: Any) -> Decision:
    config = make_config(
        target="plan",
        segments=["region"],
        key_segments=[],
        secondary_metrics=["log_loss", "recall"],
        statistics={"n_resamples": 400},
        **overrides,
    )
    comparison = compare_models(frame, rows, config)
    evidence = Evidence("plans", config.primary_metric, champion_version="1", candidate_version="2")
    return decide(with_comparison(evidence, comparison), config)


@pytest.mark.parametrize(
    ("region", "plan"), [("south", "pro"), ("east", "basic")], ids=["south-pro", "east-basic"]
)
def test_a_class_that_falls_in_one_segment_is_named_there_while_the_average_rises(
    region: str, plan: str
) -> None:
    decision = gate(*plan_world(11, (region, plan)))
    segment = f"region={region}"
    rows = {r.segment: r for r in decision.segments}
    assert rows[segment].delta is not None
    assert rows[segment].delta > 0, "macro AUC rises there: the average hides the fall"
    first = driving_classes(rows[segment], 20).split("; ")[0]
    assert first.startswith(f"{plan}: -"), first
    assert "within noise" not in first
    warned = [c for c in decision.checks if c.check == "class_recall_drop"]
    assert [(c.segment, c.observed["class"]) for c in warned][:1] == [(segment, plan)]
    assert {c.segment for c in warned} <= {segment, "overall"}
    assert all(c.effect == "warn" for c in warned)
    assert decision.decision == "promoted"
    assert any(w.check == "class_recall_drop" and w.segment == segment for w in decision.warnings)

    table = {r["segment"]: r for r in csv.DictReader(io.StringIO(segments_csv(decision)))}
    assert table[segment]["classes_driving"].startswith(f"{plan}: -")
    report = render_markdown(decision)
    assert "## Which classes drive each segment's change" in report
    assert f"| {segment} | {rows[segment].n} | {plan}: -" in report
    assert f"recall of class '{plan}' in {segment} fell" in report
    assert "| overall | log_loss |" in report
    assert "| overall | recall |" in report


def test_no_class_warning_when_no_class_falls_beyond_noise() -> None:
    decision = gate(*plan_world(12, None))
    assert not [c for c in decision.checks if c.check == "class_recall_drop"]
    assert decision.decision == "promoted"


def test_two_classes_carry_recall_per_class_but_no_class_warning_or_section() -> None:
    rng = np.random.default_rng(13)
    n = 4000
    y = rng.integers(0, 2, n)
    champion = softmax(np.eye(2)[y] * 1.0 + rng.normal(size=(n, 2)))
    cand_logits = np.eye(2)[y] * 1.4 + rng.normal(size=(n, 2))
    cand_logits[:, 1] -= 1.5  # positives predicted as negatives far more often
    frame = pd.DataFrame({"region": rng.choice(REGIONS, n)})
    rows = PairedRows.from_labels(y, softmax(cand_logits), champion, [0, 1])
    decision = gate(frame, rows)
    assert decision.overall is not None
    assert [c.label for c in decision.overall.class_recall] == ["0", "1"]
    assert not [c for c in decision.checks if c.check == "class_recall_drop"]
    assert "## Which classes drive" not in render_markdown(decision)


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
    assert driving_classes(row, min_rows=20) == (
        "pro: +0.180 [+0.120, +0.240] (30% of rows); family: -0.060 [-0.110, -0.010] (19% of rows); "
        "basic: +0.010 [-0.020, +0.040] (50% of rows), within noise; "
        "too few rows to rank (min_class_rows 20): team (10 rows)"
    )
    assert driving_classes(row, min_rows=20, top=1).startswith("pro: +0.180")
    assert driving_classes(SegmentResult(segment="overall", n=5, status="baseline")) == ""


# ---------------------------------------------------------------- decision.json


def test_class_recall_round_trips_through_decision_json_and_old_decisions_still_read() -> None:
    decision = gate(*plan_world(14, ("south", "pro"), n=3000))
    assert decision.overall is not None
    assert [c.label for c in decision.overall.class_recall] == ["basic", "family", "pro"]
    written = decision_to_dict(decision)
    assert read_decision(written) == decision
    assert decision.thresholds.min_class_rows == 20

    for row in [written["overall"], *written["segments"]]:
        del row["class_recall"]  # a decision written before recall per class
    del written["thresholds"]["min_class_rows"]
    old = read_decision(written)
    assert old.overall is not None
    assert old.overall.class_recall == []
    assert old.thresholds.min_class_rows == 0
    assert "## Which classes drive" not in render_markdown(old)
    assert {r["classes_driving"] for r in csv.DictReader(io.StringIO(segments_csv(old)))} == {""}


# ---------------------------------------------------------------- simulation (slow)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["roc_auc", "log_loss", "recall"])
def test_paired_intervals_of_macro_metrics_cover_the_true_delta_for_three_classes(name: str) -> None:
    """2,000-row samples from a population of 600,000 rows: the 95% paired bootstrap interval of the
    delta (macro one-vs-rest AUC, log loss, macro recall) covers the population's delta ~95%."""
    y, candidate, champion = three_or_four(2025, 3, n=600_000)
    targets = Targets(y, (0, 1, 2))
    values = [estimate(name, targets, model).value for model in (candidate, champion)]
    assert values[0] is not None
    assert values[1] is not None
    truth = values[0] - values[1]
    rng = np.random.default_rng(7)
    trials, covered, deltas, widths = 400, 0, [], []
    for _ in range(trials):
        idx = rng.integers(0, len(y), 2_000)
        rows = PairedRows(y[idx], candidate[idx], champion[idx], [0, 1, 2])
        found = paired_delta(name, rows, n_resamples=1000, rng=rng)
        lo, hi = found.interval(0.95)
        assert lo is not None
        assert hi is not None
        covered += lo <= truth <= hi
        deltas.append(found.delta)
        widths.append(hi - lo)
    spread = 2 * 1.96 * float(np.std(deltas))  # how far the delta really moves from sample to sample
    print(
        f"{name}: true delta {truth:+.4f}, coverage {covered / trials:.3f} over {trials} trials, "
        f"mean width {np.mean(widths):.4f} against {spread:.4f}"
    )
    assert np.mean(widths) == pytest.approx(spread, rel=0.12)
    assert 0.92 <= covered / trials <= 0.985  # 400 trials: the binomial sd is 0.011
