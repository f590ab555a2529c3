"""Every metric in the registry, on generated data: equal to scikit-learn's value, and its bootstrap
(no metric recomputed per resample) as wide as an exact row bootstrap that recomputes it.

The data vary what breaks metric code: ties (rounded scores), rare positives, tiny segments,
two to four classes. A metric added to the registry without a reference here fails
`test_every_metric_has_a_reference`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from gatekeeper.metrics import ECE_BINS, METRICS, estimate
from gatekeeper.stats.bootstrap import paired_delta
from gatekeeper.stats.rows import PairedRows
from tests.fuzzing import examples


def _ece_reference(y: np.ndarray, proba: np.ndarray) -> float:
    """Expected calibration error written out row by row (scikit-learn has none)."""
    totals: dict[int, list[float]] = {}
    for label, row in zip(y, proba, strict=True):
        predicted = int(np.argmax(row))
        confidence = float(row[predicted])
        b = min(int(confidence * ECE_BINS), ECE_BINS - 1)
        totals.setdefault(b, []).append(float(predicted == label) - confidence)
    return sum(abs(sum(gaps)) for gaps in totals.values()) / len(y)


def _classification_reference(name: str, y: np.ndarray, proba: np.ndarray) -> float:
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    binary = k == 2
    average = "binary" if binary else "macro"
    onehot = np.eye(k)[y]
    return {
        "roc_auc": lambda: (
            skm.roc_auc_score(y, proba[:, 1]) if binary else skm.roc_auc_score(y, proba, multi_class="ovr")
        ),
        "average_precision": lambda: (
            skm.average_precision_score(y, proba[:, 1])
            if binary
            else skm.average_precision_score(onehot, proba, average="macro")
        ),
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred),
        "precision": lambda: skm.precision_score(y, pred, average=average, zero_division=0),
        "recall": lambda: skm.recall_score(y, pred, average=average, zero_division=0),
        "f1": lambda: skm.f1_score(y, pred, average=average, zero_division=0),
        "log_loss": lambda: skm.log_loss(y, proba, labels=list(range(k))),
        "brier": lambda: (
            skm.brier_score_loss(y, proba[:, 1])
            if binary
            else float(((proba - onehot) ** 2).sum(axis=1).mean())
        ),
        "ece": lambda: _ece_reference(y, proba),
    }[name]()


REGRESSION = {
    "rmse": skm.root_mean_squared_error,
    "mae": skm.mean_absolute_error,
    "r2": skm.r2_score,
}
CLASSIFICATION = sorted(n for n, m in METRICS.items() if "classification" in m.tasks)


def test_every_metric_has_a_reference() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.7, 0.3], [0.2, 0.8], [0.4, 0.6], [0.5, 0.5]])
    for name in CLASSIFICATION:
        assert np.isfinite(_classification_reference(name, y, proba))
    assert set(CLASSIFICATION) | set(REGRESSION) == set(METRICS)


def _classes(rng: np.random.Generator, n: int, k: int, rare: float, decimals: int | None) -> tuple:
    weights = np.full(k, (1 - rare) / (k - 1))
    weights[-1 if k > 2 else 1] = rare
    y = rng.choice(k, size=n, p=weights / weights.sum())
    y[:k] = np.arange(k)  # every class at least once
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += rng.uniform(0.3, 2.0)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if decimals is not None:  # ties, as real scores have
        proba = np.round(proba, decimals)
        proba = np.clip(proba, 1e-3, None)
        proba = proba / proba.sum(axis=1, keepdims=True)
    return y, proba


@settings(max_examples=examples(60), deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(12, 3000),
    k=st.sampled_from([2, 2, 3, 4]),
    rare=st.sampled_from([0.5, 0.2, 0.03]),
    decimals=st.sampled_from([None, 1, 2]),
)
def test_classification_point_estimates_equal_scikit_learn(seed, n, k, rare, decimals) -> None:
    rng = np.random.default_rng(seed)
    y, proba = _classes(rng, n, k, rare, decimals)
    targets = PairedRows.from_labels(y, proba, None, list(range(k))).targets
    for name in CLASSIFICATION:
        ours = estimate(name, targets, proba)
        assert ours.value == pytest.approx(_classification_reference(name, y, proba), abs=1e-9), name
        assert ours.influence is not None
        assert abs(ours.influence.mean()) < 1e-9, name  # an influence function sums to zero


@settings(max_examples=examples(30), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 3000), heavy=st.booleans())
def test_regression_point_estimates_equal_scikit_learn(seed, n, heavy) -> None:
    rng = np.random.default_rng(seed)
    y = rng.standard_t(2, n) if heavy else rng.normal(5, 2, n)
    prediction = y + rng.normal(0, 1, n)
    rows = PairedRows.regression(y, prediction, None)
    for name, reference in REGRESSION.items():
        assert estimate(name, rows.targets, prediction).value == pytest.approx(
            reference(y, prediction), abs=1e-9
        )


@pytest.mark.parametrize(("n", "decimals"), [(40, None), (500, 1), (3000, 2)], ids=["small", "ties", "big"])
def test_average_precision_influence_is_the_derivative_of_scikit_learns_weighted_value(n, decimals) -> None:
    """The influence AP's bootstrap resamples is n x d AP / d w_k, checked by finite differences of
    scikit-learn's `average_precision_score(sample_weight=...)`."""
    rng = np.random.default_rng(n)
    y, proba = _classes(rng, n, 2, 0.2, decimals)
    targets = PairedRows.from_labels(y, proba, None, [0, 1]).targets
    ours = estimate("average_precision", targets, proba)
    eps = 1e-6
    for k in rng.choice(n, 8, replace=False):
        weight = np.ones(n)
        weight[k] += eps
        moved = skm.average_precision_score(y, proba[:, 1], sample_weight=weight)
        assert (moved - ours.value) / eps * n == pytest.approx(ours.influence[k], abs=1e-4)


@pytest.mark.parametrize(("n", "decimals"), [(40, None), (500, 1), (3000, None), (3000, 2)])
def test_roc_auc_influence_is_the_derivative_of_scikit_learns_weighted_value(n, decimals) -> None:
    """ROC AUC's influence (DeLong's components) is n x d AUC / d w_k, on distinct scores (computed in
    place) and on tied ones (by score group), checked by finite differences of scikit-learn's
    `roc_auc_score(sample_weight=...)`."""
    rng = np.random.default_rng(n + (decimals or 0))
    y, proba = _classes(rng, n, 2, 0.3, decimals)
    targets = PairedRows.from_labels(y, proba, None, [0, 1]).targets
    ours = estimate("roc_auc", targets, proba)
    assert ours.value == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=1e-12)
    eps = 1e-6
    for k in [*rng.choice(n, 8, replace=False), int(np.argmax(proba[:, 1])), int(np.argmin(proba[:, 1]))]:
        weight = np.ones(n)
        weight[k] += eps
        moved = skm.roc_auc_score(y, proba[:, 1], sample_weight=weight)
        assert (moved - ours.value) / eps * n == pytest.approx(ours.influence[k], abs=1e-4)


def _exact_row_bootstrap(name: str, y, cand, champ, rng, times: int = 300) -> np.ndarray:
    out = []
    while len(out) < times:
        idx = rng.integers(0, len(y), len(y))
        if len(np.unique(y[idx])) < cand.shape[1]:
            continue
        out.append(
            _classification_reference(name, y[idx], cand[idx])
            - _classification_reference(name, y[idx], champ[idx])
        )
    return np.array(out)


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFICATION)
@pytest.mark.parametrize(
    ("n", "k", "rare"),
    [(3000, 2, 0.2), (1500, 2, 0.06), (2000, 3, 0.25)],
    ids=["binary", "rare", "3-classes"],
)
def test_bootstrap_is_as_wide_as_an_exact_row_bootstrap(name: str, n: int, k: int, rare: float) -> None:
    rng = np.random.default_rng(n + k)
    y, champ = _classes(rng, n, k, rare, 2)
    logits = np.log(champ) + rng.normal(0, 0.6, champ.shape)
    cand = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    rows = PairedRows.from_labels(y, cand, champ, list(range(k)))
    ours = paired_delta(name, rows, n_resamples=2000, rng=np.random.default_rng(0))
    exact = _exact_row_bootstrap(name, y, cand, champ, np.random.default_rng(1))
    assert ours.resamples is not None
    assert ours.resamples.std() == pytest.approx(exact.std(), rel=0.2), name
