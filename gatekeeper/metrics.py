"""The one metric registry: each metric is one `Metric` entry in `METRICS`.

An entry says how to compute the metric from (targets, model outputs), whether
higher is better, whether it needs scores (probabilities) rather than predicted labels, whether
it is class-sensitive (says little without enough rows of each class), which tasks it fits and
how its paired bootstrap is done. Config validation, scoring, the bootstrap, the policy,
triage and the report all ask the registry; adding a metric is adding one entry.

Every estimate is exact (equal to scikit-learn's) and, where the metric allows it, carries each
row's **influence** on the value: the first-order change of the metric when that row's weight
changes. For mean-type metrics (accuracy, log loss, Brier, MAE) the influence is exactly the
per-row loss minus its mean; for ratio metrics, ROC AUC (DeLong's structural components) and
average precision it is the linearisation. The paired bootstrap (`gatekeeper.stats.bootstrap`)
resamples these: no metric is ever recomputed per resample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gatekeeper.ranking import ap_of, auc_of
from gatekeeper.vocabulary import Task

Array = np.ndarray[Any, Any]
Bootstrap = Literal["exact mean", "linearised"]
ECE_BINS = 10


@dataclass(frozen=True)
class Targets:
    """What the models are scored against: class codes 0..k-1 (classification) or numbers."""

    y: Array
    classes: tuple[Any, ...] = ()  # empty for regression
    positive: int | None = None  # the positive class's column (binary classification only)

    @property
    def n(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Estimate:
    """One model's metric on some rows, each row's influence on it, or why it is undefined there."""

    value: float | None
    influence: Array | None = None
    undefined_reason: str | None = None


@dataclass(frozen=True)
class Metric:
    """One metric: how to compute it and how to read it."""

    name: str
    compute: Callable[[Targets, Array], Estimate]
    higher_is_better: bool
    tasks: frozenset[Task]
    needs_scores: bool
    class_sensitive: bool
    bootstrap: Bootstrap
    in_target_units: bool = False  # RMSE, MAE: a tolerance in absolute units means nothing across targets

    def gain(self, delta: float) -> float:
        """A delta (candidate - champion) oriented so that positive means the candidate is better."""
        return delta if self.higher_is_better else -delta

    def gains(self, deltas: Array) -> Array:
        return deltas if self.higher_is_better else -deltas

    def relative_change(self, champion: float, candidate: float) -> float:
        """Our one definition of relative change: the oriented gain divided by |champion|.

        TFMA's docs and code disagree on "relative"; this is the meaning used everywhere here.
        A champion value of 0 gives +inf/-inf for any non-zero gain and 0.0 for none.
        """
        g = self.gain(candidate - champion)
        if champion == 0:
            return 0.0 if g == 0 else float(np.sign(g) * np.inf)
        return g / abs(champion)

    def meets_floor(self, value: float, floor: float) -> bool:
        """`value` is at least as good as `floor` (at least for higher-is-better, at most otherwise)."""
        return value >= floor if self.higher_is_better else value <= floor

    def too_few_of_a_class(self, minority: int | None, min_class_rows: int) -> bool:
        """A class-sensitive metric needs enough rows of the rarest class: 300 rows with 4 positives say
        almost nothing about AUC."""
        return self.class_sensitive and minority is not None and minority < min_class_rows


# ---------------------------------------------------------------- estimators


def _ranked(
    of: Callable[[Array, Array, int], tuple[float, Array]], score: Array, positive: Array
) -> Estimate:
    """A ranking metric of `gatekeeper.ranking` (`of`) with its influence; undefined on one class."""
    n_pos = int(np.count_nonzero(positive))
    if n_pos == 0 or n_pos == len(score):
        only = "positive" if n_pos else "negative"
        return Estimate(None, undefined_reason=f"only one class present ({only} rows only)")
    value, influence = of(score, positive, n_pos)
    return Estimate(value, influence)


def _ratio(numerator: Array, denominator: Array, empty: float | None) -> Estimate:
    """R = sum(a)/sum(b) with influence (a_i - R b_i) / mean(b).

    With no denominator rows the value is `empty` (scikit-learn's zero_division=0), or undefined
    when `empty` is None.
    """
    b_mean = denominator.mean()
    if b_mean == 0:
        if empty is None:
            return Estimate(None, undefined_reason="no rows in the denominator")
        return Estimate(empty, np.zeros(len(numerator)))
    r = float(numerator.sum() / denominator.sum())
    return Estimate(r, (numerator - r * denominator) / b_mean)


def _average(parts: list[Estimate]) -> Estimate:
    defined = [p for p in parts if p.value is not None and p.influence is not None]
    if not defined:
        return Estimate(None, undefined_reason="no class has rows")
    value = float(np.mean([p.value for p in defined if p.value is not None]))
    influence = np.mean([p.influence for p in defined if p.influence is not None], axis=0)
    return Estimate(value, np.asarray(influence))


def _mean_loss(loss: Array) -> Estimate:
    mean = float(loss.mean())
    return Estimate(mean, loss - mean)


def _empty(t: Targets) -> Estimate | None:
    return Estimate(None, undefined_reason="no rows") if t.n == 0 else None


def _picked(proba: Array, column: Array) -> Array:
    """proba[i, column[i]] for every row (binary: a choice between two columns, ~5x faster)."""
    if proba.shape[1] == 2:
        return np.asarray(np.where(column == 1, proba[:, 1], proba[:, 0]))
    return np.asarray(proba[np.arange(len(proba)), column])


def predicted(proba: Array) -> Array:
    """The most probable class of each row (the first on ties, as argmax; a NaN counts as largest)."""
    if proba.ndim == 2 and proba.shape[1] == 2:  # binary: one comparison, ~10x argmax's speed
        first, second = proba[:, 0], proba[:, 1]
        return np.asarray((second > first) | (np.isnan(second) & ~np.isnan(first)), dtype=np.intp)
    return np.asarray(np.argmax(proba, axis=1))


def roc_auc(t: Targets, proba: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    if t.positive is not None:
        return _ranked(auc_of, proba[:, t.positive], t.y == t.positive)
    k = proba.shape[1]
    if len(np.unique(t.y)) < k:
        return Estimate(None, undefined_reason="not every class is present for a one-vs-rest average")
    return _average([_ranked(auc_of, proba[:, c], t.y == c) for c in range(k)])


def average_precision(t: Targets, proba: Array) -> Estimate:
    """Binary: the positive class's AP; multiclass: the macro average of one-vs-rest APs."""
    if (e := _empty(t)) is not None:
        return e
    if t.positive is not None:
        return _ranked(ap_of, proba[:, t.positive], t.y == t.positive)
    k = proba.shape[1]
    if len(np.unique(t.y)) < k:
        return Estimate(None, undefined_reason="not every class is present for a one-vs-rest average")
    return _average([_ranked(ap_of, proba[:, c], t.y == c) for c in range(k)])


def accuracy(t: Targets, proba: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    return _mean_loss((predicted(proba) == t.y).astype(float))


def log_loss(t: Targets, proba: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    eps = np.finfo(proba.dtype).eps
    p = np.clip(proba, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    return _mean_loss(-np.log(_picked(p, t.y)))


def brier(t: Targets, proba: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    if t.positive is not None:
        return _mean_loss((proba[:, t.positive] - (t.y == t.positive)) ** 2)
    onehot = t.y[:, None] == np.arange(proba.shape[1])[None, :]
    return _mean_loss(((proba - onehot) ** 2).sum(axis=1))


def _prf(which: str) -> Callable[[Targets, Array], Estimate]:
    def one(actual: Array, predicted: Array) -> Estimate:
        tp = (actual & predicted).astype(float)
        if which == "precision":
            return _ratio(tp, predicted.astype(float), 0.0)
        if which == "recall":
            return _ratio(tp, actual.astype(float), 0.0)
        return _ratio(2 * tp, predicted.astype(float) + actual.astype(float), 0.0)

    def compute(t: Targets, proba: Array) -> Estimate:
        if (e := _empty(t)) is not None:
            return e
        pred = predicted(proba)
        if t.positive is not None:
            return one(t.y == t.positive, pred == t.positive)
        return _average([one(t.y == c, pred == c) for c in range(proba.shape[1])])

    compute.__name__ = which
    return compute


def balanced_accuracy(t: Targets, proba: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    pred = predicted(proba)
    parts = [
        _ratio(((t.y == c) & (pred == c)).astype(float), (t.y == c).astype(float), None)
        for c in range(proba.shape[1])
    ]
    return _average(parts)


def ece(t: Targets, proba: Array) -> Estimate:
    """Expected calibration error: 10 equal-width confidence bins, |accuracy - confidence| weighted."""
    if (e := _empty(t)) is not None:
        return e
    pred = predicted(proba)
    confidence = _picked(proba, pred)
    gap = (pred == t.y).astype(float) - confidence
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    per_bin = np.bincount(bins, weights=gap, minlength=ECE_BINS)
    value = float(np.abs(per_bin).sum() / t.n)
    return Estimate(value, np.sign(per_bin)[bins] * gap - value)


def mae(t: Targets, prediction: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    return _mean_loss(np.abs(prediction - t.y))


def rmse(t: Targets, prediction: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    squared = (prediction - t.y) ** 2
    mse = float(squared.mean())
    value = float(np.sqrt(mse))
    influence = (squared - mse) / (2 * value) if value > 0 else np.zeros(t.n)
    return Estimate(value, influence)


def r2(t: Targets, prediction: Array) -> Estimate:
    if (e := _empty(t)) is not None:
        return e
    squared = (prediction - t.y) ** 2
    mse = float(squared.mean())
    spread = (t.y - t.y.mean()) ** 2
    variance = float(spread.mean())
    if variance == 0:
        return Estimate(None, undefined_reason="the target is constant on these rows")
    influence = -((squared - mse) - (mse / variance) * (spread - variance)) / variance
    return Estimate(1 - mse / variance, influence)


# ---------------------------------------------------------------- the registry

_CLS: frozenset[Task] = frozenset({"classification"})
_REG: frozenset[Task] = frozenset({"regression"})

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        # name, compute, higher is better, tasks, needs scores, class-sensitive, bootstrap
        Metric("roc_auc", roc_auc, True, _CLS, True, True, "linearised"),
        Metric("average_precision", average_precision, True, _CLS, True, True, "linearised"),
        Metric("accuracy", accuracy, True, _CLS, False, False, "exact mean"),
        Metric("balanced_accuracy", balanced_accuracy, True, _CLS, False, True, "linearised"),
        Metric("precision", _prf("precision"), True, _CLS, False, True, "linearised"),
        Metric("recall", _prf("recall"), True, _CLS, False, True, "linearised"),
        Metric("f1", _prf("f1"), True, _CLS, False, True, "linearised"),
        Metric("log_loss", log_loss, False, _CLS, True, False, "exact mean"),
        Metric("brier", brier, False, _CLS, True, False, "exact mean"),
        Metric("ece", ece, False, _CLS, True, False, "linearised"),
        Metric("rmse", rmse, False, _REG, False, False, "linearised", in_target_units=True),
        Metric("mae", mae, False, _REG, False, False, "exact mean", in_target_units=True),
        Metric("r2", r2, True, _REG, False, False, "linearised"),
    )
}
DEFAULT_METRIC: dict[Task, str] = {"classification": "roc_auc", "regression": "rmse"}


def metric(name: str) -> Metric:
    """The registry entry of `name`; a clear error for an unknown one."""
    try:
        return METRICS[name]
    except KeyError:
        from gatekeeper.errors import did_you_mean

        raise ValueError(
            f"unknown metric {name!r}{did_you_mean(name, METRICS)}; expected one of {sorted(METRICS)}"
        ) from None


def metrics_for(task: Task) -> list[str]:
    """Names of the metrics that fit `task`."""
    return sorted(n for n, m in METRICS.items() if task in m.tasks)


def estimate(name: str, targets: Targets, outputs: Array) -> Estimate:
    """`name` of a model's outputs (class probabilities, or predictions for regression) on `targets`."""
    return metric(name).compute(targets, outputs)
