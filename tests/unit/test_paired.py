from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from gatekeeper.metrics import estimate
from gatekeeper.stats.bootstrap import InfluenceHistogram, paired_delta
from gatekeeper.stats.rows import PairedRows


def _scores(y: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    z = 1.2 * y + rng.normal(0, 1, len(y)) * noise + rng.normal(0, 1, len(y))
    p = np.round(1 / (1 + np.exp(-(z - 0.6))), 2)  # rounding makes ties, as real scores have
    return np.column_stack([1 - p, p])


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    return y, _scores(y, 0.5, rng), _scores(y, 0.8, rng)


SKLEARN = {
    "roc_auc": lambda y, p: skm.roc_auc_score(y, p[:, 1]),
    "average_precision": lambda y, p: skm.average_precision_score(y, p[:, 1]),
    "accuracy": lambda y, p: skm.accuracy_score(y, p[:, 1] > 0.5),
    "balanced_accuracy": lambda y, p: skm.balanced_accuracy_score(y, p[:, 1] > 0.5),
    "precision": lambda y, p: skm.precision_score(y, p[:, 1] > 0.5),
    "recall": lambda y, p: skm.recall_score(y, p[:, 1] > 0.5),
    "f1": lambda y, p: skm.f1_score(y, p[:, 1] > 0.5),
    "log_loss": lambda y, p: skm.log_loss(y, p),
    "brier": lambda y, p: skm.brier_score_loss(y, p[:, 1]),
}


@pytest.mark.parametrize("metric", sorted(SKLEARN))
def test_point_estimates_equal_scikit_learn(pair, metric: str) -> None:
    y, cand, _ = pair
    rows = PairedRows.from_labels(y, cand, None, [0, 1])
    assert estimate(metric, rows.targets, cand).value == pytest.approx(SKLEARN[metric](y, cand), abs=1e-9)


@pytest.mark.parametrize(
    "metric",
    [
        "accuracy",
        "log_loss",
        "roc_auc",
        "precision",
        "recall",
        "f1",
        "balanced_accuracy",
        "average_precision",
    ],
)
def test_multiclass_point_estimates_equal_scikit_learn(metric: str) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 900)
    logits = rng.normal(size=(900, 3)) + 1.5 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    reference = {
        "accuracy": skm.accuracy_score(y, pred),
        "log_loss": skm.log_loss(y, proba),
        "roc_auc": skm.roc_auc_score(y, proba, multi_class="ovr"),
        "precision": skm.precision_score(y, pred, average="macro"),
        "recall": skm.recall_score(y, pred, average="macro"),
        "f1": skm.f1_score(y, pred, average="macro"),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "average_precision": skm.average_precision_score(np.eye(3)[y], proba, average="macro"),
    }[metric]
    rows = PairedRows.from_labels(y, proba, None, [0, 1, 2])
    assert estimate(metric, rows.targets, proba).value == pytest.approx(reference, abs=1e-9)


def test_string_labels_and_positive_label() -> None:
    y = np.array(["no", "yes", "yes", "no"], dtype=object)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    rows = PairedRows.from_labels(y, proba, None, ["no", "yes"])
    assert estimate("roc_auc", rows.targets, proba).value == 1.0
    flipped = PairedRows.from_labels(y, proba, None, ["no", "yes"], positive_label="no")
    assert estimate("roc_auc", flipped.targets, proba).value == 1.0
    # row 3 is "yes" with p(no)=0.6: predicted "no", so precision for "no" is 2/3
    assert estimate("precision", flipped.targets, proba).value == pytest.approx(2 / 3)


def test_undefined_metrics_say_why_instead_of_zero() -> None:
    rows = PairedRows.from_labels(np.array([1, 1, 1]), np.full((3, 2), 0.5), None, [0, 1])
    auc = estimate("roc_auc", rows.targets, rows.candidate)
    assert auc.value is None
    assert auc.undefined_reason == "only one class present (positive rows only)"
    empty = PairedRows.from_labels(np.array([], dtype=int), np.zeros((0, 2)), None, [0, 1])
    assert estimate("accuracy", empty.targets, empty.candidate).undefined_reason == "no rows"


def test_ece_is_weighted_calibration_gap() -> None:
    y = np.array([1, 1, 0, 0])
    proba = np.array([[0.1, 0.9], [0.1, 0.9], [0.1, 0.9], [0.8, 0.2]])
    # bin 0.9: 3 rows, accuracy 2/3, confidence 0.9; bin 0.8: 1 row, correct, confidence 0.8
    expected = (3 * abs(2 / 3 - 0.9) + 1 * abs(1 - 0.8)) / 4
    rows = PairedRows.from_labels(y, proba, None, [0, 1])
    assert estimate("ece", rows.targets, proba).value == pytest.approx(expected)


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "log_loss", "f1"])
def test_bootstrap_spread_matches_an_exact_row_bootstrap(pair, metric: str) -> None:
    y, cand, champ = pair
    rows = PairedRows.from_labels(y, cand, champ, [0, 1])
    ours = paired_delta(metric, rows, n_resamples=2000, rng=np.random.default_rng(0))
    rng = np.random.default_rng(5)
    exact = []
    for _ in range(400):
        idx = rng.integers(0, len(y), len(y))
        exact.append(SKLEARN[metric](y[idx], cand[idx]) - SKLEARN[metric](y[idx], champ[idx]))
    assert ours.delta == pytest.approx(SKLEARN[metric](y, cand) - SKLEARN[metric](y, champ), abs=1e-9)
    assert ours.resamples.std() == pytest.approx(np.std(exact), rel=0.15)
    assert ours.resamples.mean() == pytest.approx(np.mean(exact), abs=0.25 * np.std(exact))
    # the stated error bound: interval ends within 15% of the interval's width of the exact bootstrap's
    lo, hi = ours.interval(0.95)
    exact_lo, exact_hi = np.quantile(exact, [0.025, 0.975])
    width = exact_hi - exact_lo
    assert abs(lo - exact_lo) <= 0.15 * width
    assert abs(hi - exact_hi) <= 0.15 * width


@pytest.mark.parametrize("metric", ["roc_auc", "log_loss"])
def test_histogram_resolution_barely_moves_the_interval(pair, metric: str) -> None:
    y, cand, champ = pair
    rows = PairedRows.from_labels(y, cand, champ, [0, 1])
    coarse = paired_delta(metric, rows, n_resamples=4000, rng=np.random.default_rng(1), bins=8).interval(0.95)
    fine = paired_delta(metric, rows, n_resamples=4000, rng=np.random.default_rng(1), bins=1024).interval(
        0.95
    )
    width = fine[1] - fine[0]
    assert abs(coarse[0] - fine[0]) <= 0.05 * width
    assert abs(coarse[1] - fine[1]) <= 0.05 * width


def test_identical_models_have_a_zero_width_interval(pair) -> None:
    y, cand, _ = pair
    rows = PairedRows.from_labels(y, cand, cand.copy(), [0, 1])
    delta = paired_delta("roc_auc", rows, n_resamples=500, rng=np.random.default_rng(0))
    assert delta.delta == 0.0
    assert delta.interval(0.95) == (0.0, 0.0)


def test_bootstrap_is_seeded_and_reproducible(pair) -> None:
    y, cand, champ = pair
    rows = PairedRows.from_labels(y, cand, champ, [0, 1])
    a = paired_delta("log_loss", rows, n_resamples=300, rng=np.random.default_rng(42))
    b = paired_delta("log_loss", rows, n_resamples=300, rng=np.random.default_rng(42))
    assert np.array_equal(a.resamples, b.resamples)


def test_influence_histogram_resamples_like_the_rows() -> None:
    rng = np.random.default_rng(3)
    influence = rng.standard_t(4, 20_000)
    means = InfluenceHistogram.of(influence, bins=64).resample_means(4000, np.random.default_rng(0))
    assert means.mean() == pytest.approx(influence.mean(), abs=0.005)
    assert means.std() == pytest.approx(influence.std() / np.sqrt(len(influence)), rel=0.1)


@pytest.fixture(scope="module")
def regression_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    y = rng.normal(10, 3, 3000)
    return y, y + rng.normal(0, 1.0, 3000), y + rng.normal(0.2, 1.3, 3000)


REGRESSION = {
    "rmse": lambda y, p: skm.root_mean_squared_error(y, p),
    "mae": skm.mean_absolute_error,
    "r2": skm.r2_score,
}


@pytest.mark.parametrize("metric", sorted(REGRESSION))
def test_regression_metrics_equal_scikit_learn_and_bootstrap_like_rows(regression_pair, metric: str) -> None:
    y, cand, champ = regression_pair
    rows = PairedRows.regression(y, cand, champ)
    ours = paired_delta(metric, rows, n_resamples=2000, rng=np.random.default_rng(0))
    assert ours.candidate == pytest.approx(REGRESSION[metric](y, cand), abs=1e-9)
    assert ours.champion == pytest.approx(REGRESSION[metric](y, champ), abs=1e-9)
    rng = np.random.default_rng(8)
    exact = []
    for _ in range(400):
        idx = rng.integers(0, len(y), len(y))
        exact.append(REGRESSION[metric](y[idx], cand[idx]) - REGRESSION[metric](y[idx], champ[idx]))
    assert ours.resamples.std() == pytest.approx(np.std(exact), rel=0.15)


def test_r2_on_a_constant_target_is_undefined() -> None:
    rows = PairedRows.regression(np.ones(10), np.ones(10), np.zeros(10))
    delta = paired_delta("r2", rows, n_resamples=100, rng=np.random.default_rng(0))
    assert delta.undefined_reason == "the target is constant on these rows"


def test_average_precision_on_a_tiny_segment_does_not_fail() -> None:
    y = np.array([0, 0, 0, 1, 0, 0])
    proba = np.column_stack([1 - np.linspace(0.1, 0.9, 6), np.linspace(0.1, 0.9, 6)])
    rows = PairedRows.from_labels(y, proba, proba[::-1].copy(), [0, 1])
    delta = paired_delta("average_precision", rows, n_resamples=200, rng=np.random.default_rng(0))
    assert delta.delta is not None
    assert delta.resamples is None or not np.isnan(delta.resamples).any()


def test_a_few_valued_influence_gets_the_same_bins_from_its_codes() -> None:
    """`of_values` (class recall's influence: four values by code) builds the histogram `of` finds by
    scanning the rows, equal values merged (delta 0 puts the class's unchanged rows on the 0 of the rest)."""
    from gatekeeper.stats.bootstrap import InfluenceHistogram

    rng = np.random.default_rng(5)
    codes = rng.choice(4, 5_000, p=[0.5, 0.1, 0.3, 0.1])
    for delta in (0.07, 0.0, -0.03):
        values = np.array([0.0, -1 - delta, -delta, 1 - delta]) / 0.5
        by_codes = InfluenceHistogram.of_values(codes, values)
        by_rows = InfluenceHistogram.of(values[codes], bins=64)
        for got, want in zip(
            (by_codes.count, by_codes.total, by_codes.squares),
            (by_rows.count, by_rows.total, by_rows.squares),
            strict=True,
        ):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
        assert len(by_codes.count) == (3 if delta == 0 else 4)


def test_poisson_counts_are_exact_below_normal_from_and_match_its_moments_above() -> None:
    from gatekeeper.stats.bootstrap import NORMAL_FROM, poisson_counts

    small = np.array([0.0, 1.0, 3.0, NORMAL_FROM - 1.0])
    exact = np.random.default_rng(1).poisson(small, size=(500, 4)).astype(float)
    assert np.array_equal(poisson_counts(small, 500, np.random.default_rng(1)), exact)
    mixed = np.array([3.0, NORMAL_FROM, 5_000.0])
    draws = poisson_counts(mixed, 40_000, np.random.default_rng(2))
    np.testing.assert_allclose(draws.mean(axis=0), mixed, rtol=0.01, atol=0.05)
    np.testing.assert_allclose(draws.var(axis=0), mixed, rtol=0.03)
    assert np.array_equal(draws[:, 0], np.round(draws[:, 0]))  # the small bin: whole Poisson counts
