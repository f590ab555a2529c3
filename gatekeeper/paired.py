"""Paired, uncertainty-aware comparison of two models on the same rows (pure numpy).

Point estimates are exact (equal to scikit-learn's). Intervals come from a paired bootstrap of
the delta (candidate - champion): both models are always resampled on the same rows.

How it stays fast. Every supported metric's delta is written as

    delta* - delta  ~=  mean over the resampled rows of psi_i

where psi_i is row i's influence on the delta: for mean-type metrics (accuracy, log loss,
Brier) psi is exactly the per-row loss difference minus its mean, so the identity is exact; for
ratio metrics (precision, recall, F1, balanced accuracy, ECE) and ROC AUC (DeLong's structural
components) it is the first-order (linearised) bootstrap. The bootstrap of a mean only needs
psi's histogram, a mergeable sufficient statistic (count, sum and sum of squares per bin):
each resample draws Poisson counts per bin and adds the within-bin spread as a Gaussian term
with exactly the within-bin variance, so the resampled mean has the exact bootstrap's first
two moments. When psi takes at most `bins` distinct values (accuracy: -1, 0, 1) the bins are
those values and the resampling is the exact Poisson bootstrap. The cost per segment is
O(rows + resamples x bins), never O(rows x resamples).

Average precision has no simple influence function: it is resampled row by row (exact, slow)
and its comparisons say so in `method`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gatekeeper.stats import HIGHER_IS_BETTER, encode_labels

LINEARISED = {"roc_auc", "precision", "recall", "f1", "balanced_accuracy", "ece", "rmse", "r2"}
EXACT_MEAN = {"accuracy", "log_loss", "brier", "mae"}
ROW_BOOTSTRAP = {"average_precision"}
PAIRED_METRICS = LINEARISED | EXACT_MEAN | ROW_BOOTSTRAP
ECE_BINS = 10


@dataclass
class PairedRows:
    """Targets and both models' outputs on the same evaluation rows.

    Classification: `y` holds label codes 0..k-1 and the models' outputs are (n, k) class
    probabilities. Regression (`classes == []`): `y` holds the targets, the outputs predictions.
    """

    y: np.ndarray
    candidate: np.ndarray
    champion: np.ndarray | None  # None: no champion yet
    classes: list[Any]
    positive: int | None = None  # column of the positive class (binary only)

    @classmethod
    def regression(cls, y: np.ndarray, candidate: np.ndarray, champion: np.ndarray | None) -> PairedRows:
        champ = None if champion is None else np.asarray(champion, dtype=float).reshape(-1)
        return cls(
            np.asarray(y, dtype=float).reshape(-1), np.asarray(candidate, dtype=float).reshape(-1), champ, []
        )

    @classmethod
    def from_labels(
        cls,
        y_true: np.ndarray,
        candidate: np.ndarray,
        champion: np.ndarray | None,
        classes: Sequence[Any],
        positive_label: Any | None = None,
    ) -> PairedRows:
        classes = list(classes)
        positive = None
        if len(classes) == 2:
            positive = 1
            if positive_label is not None:
                matches = [i for i, c in enumerate(classes) if str(c) == str(positive_label)]
                if not matches:
                    raise ValueError(f"positive_label {positive_label!r} is not one of the classes {classes}")
                positive = matches[0]
        return cls(encode_labels(y_true, classes), candidate, champion, classes, positive)

    def take(self, index: np.ndarray) -> PairedRows:
        champ = None if self.champion is None else self.champion[index]
        return PairedRows(self.y[index], self.candidate[index], champ, self.classes, self.positive)

    @property
    def n(self) -> int:
        return len(self.y)


@dataclass
class MetricEstimate:
    """One model's metric on some rows, with each row's influence on it."""

    value: float | None
    psi: np.ndarray | None = None
    undefined_reason: str | None = None


# ---------------------------------------------------------------- per-metric estimates


def _auc(score: np.ndarray, positive: np.ndarray) -> MetricEstimate:
    """Exact Mann-Whitney AUC with average ties, and DeLong's per-row components as psi."""
    n = len(score)
    n_pos = int(positive.sum())
    n_neg = n - n_pos
    if n_pos == 0 or n_neg == 0:
        only = "positive" if n_neg == 0 else "negative"
        return MetricEstimate(None, undefined_reason=f"only one class present ({only} rows only)")
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    pos = positive[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(s[1:], s[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    pos_in = np.bincount(group, weights=pos)
    neg_in = np.bincount(group, weights=~pos)
    neg_below = np.cumsum(neg_in) - neg_in
    pos_above = n_pos - np.cumsum(pos_in)
    v10 = (neg_below + 0.5 * neg_in) / n_neg  # for a positive in the group: share of negatives below it
    v01 = (pos_above + 0.5 * pos_in) / n_pos  # for a negative: share of positives above it
    auc = float(np.dot(pos_in, v10) / n_pos)
    psi_sorted = np.where(pos, (v10[group] - auc) * (n / n_pos), (v01[group] - auc) * (n / n_neg))
    psi = np.empty(n)
    psi[order] = psi_sorted
    return MetricEstimate(auc, psi)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float | None) -> MetricEstimate:
    """R = sum(a)/sum(b) with psi_i = (a_i - R b_i) / mean(b).

    With no denominator rows the value is `empty` (scikit-learn's zero_division=0), or undefined
    when `empty` is None.
    """
    b_mean = denominator.mean()
    if b_mean == 0:
        if empty is None:
            return MetricEstimate(None, undefined_reason="no rows in the denominator")
        return MetricEstimate(empty, np.zeros(len(numerator)))
    r = float(numerator.sum() / denominator.sum())
    return MetricEstimate(r, (numerator - r * denominator) / b_mean)


def estimate(metric: str, rows: PairedRows, proba: np.ndarray) -> MetricEstimate:
    """Metric of one model on `rows`, with its per-row influence psi (None for row bootstrap)."""
    n = rows.n
    if n == 0:
        return MetricEstimate(None, undefined_reason="no rows")
    y = rows.y
    if metric in ("rmse", "mae", "r2"):
        return _regression(metric, y, proba)
    k = proba.shape[1]
    binary = rows.positive is not None
    if metric == "roc_auc":
        if not binary:
            return _multiclass_auc(rows, proba)
        return _auc(proba[:, rows.positive], y == rows.positive)
    if metric == "average_precision":
        present = np.unique(y)
        if len(present) < 2:
            return MetricEstimate(
                None, undefined_reason=f"only one class present ({rows.classes[present[0]]!r})"
            )
        return MetricEstimate(_average_precision(rows, proba), None)
    pred = np.argmax(proba, axis=1)
    if metric == "accuracy":
        correct = (pred == y).astype(float)
        return MetricEstimate(float(correct.mean()), correct - correct.mean())
    if metric == "log_loss":
        eps = np.finfo(proba.dtype).eps
        p = np.clip(proba, eps, 1 - eps)
        p = p / p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(n), y])
        return MetricEstimate(float(loss.mean()), loss - loss.mean())
    if metric == "brier":
        if binary:
            err = (proba[:, rows.positive] - (y == rows.positive)) ** 2
        else:
            onehot = y[:, None] == np.arange(k)[None, :]
            err = ((proba - onehot) ** 2).sum(axis=1)
        return MetricEstimate(float(err.mean()), err - err.mean())
    if metric in ("precision", "recall", "f1"):
        if binary:
            return _prf(metric, y == rows.positive, pred == rows.positive)
        parts = [_prf(metric, y == c, pred == c) for c in range(k)]
        return _average(parts)
    if metric == "balanced_accuracy":
        parts = [
            _ratio(((y == c) & (pred == c)).astype(float), (y == c).astype(float), None) for c in range(k)
        ]
        parts = [p for p in parts if p.value is not None]
        return _average(parts)
    if metric == "ece":
        return _ece(y, proba, pred)
    raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(PAIRED_METRICS)}")


def _regression(metric: str, y: np.ndarray, prediction: np.ndarray) -> MetricEstimate:
    error = prediction - y
    if metric == "mae":
        absolute = np.abs(error)
        return MetricEstimate(float(absolute.mean()), absolute - absolute.mean())
    squared = error * error
    mse = float(squared.mean())
    if metric == "rmse":
        rmse = float(np.sqrt(mse))
        psi = (squared - mse) / (2 * rmse) if rmse > 0 else np.zeros(len(y))
        return MetricEstimate(rmse, psi)
    spread = (y - y.mean()) ** 2
    variance = float(spread.mean())
    if variance == 0:
        return MetricEstimate(None, undefined_reason="the target is constant on these rows")
    r2 = 1 - mse / variance
    return MetricEstimate(r2, -((squared - mse) - (mse / variance) * (spread - variance)) / variance)


def _prf(metric: str, actual: np.ndarray, predicted: np.ndarray) -> MetricEstimate:
    tp = (actual & predicted).astype(float)
    if metric == "precision":
        return _ratio(tp, predicted.astype(float), 0.0)
    if metric == "recall":
        return _ratio(tp, actual.astype(float), 0.0)
    return _ratio(2 * tp, predicted.astype(float) + actual.astype(float), 0.0)


def _average(parts: list[MetricEstimate]) -> MetricEstimate:
    if not parts:
        return MetricEstimate(None, undefined_reason="no class has rows")
    value = float(np.mean([p.value for p in parts]))
    psi = np.mean([p.psi for p in parts], axis=0)
    return MetricEstimate(value, psi)


def _ece(y: np.ndarray, proba: np.ndarray, pred: np.ndarray) -> MetricEstimate:
    """Expected calibration error: 10 equal-width confidence bins, |accuracy - confidence| weighted."""
    n = len(y)
    confidence = proba[np.arange(n), pred]
    gap = (pred == y).astype(float) - confidence
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    per_bin = np.bincount(bins, weights=gap, minlength=ECE_BINS)
    value = float(np.abs(per_bin).sum() / n)
    psi = np.sign(per_bin)[bins] * gap - value
    return MetricEstimate(value, psi)


def _multiclass_auc(rows: PairedRows, proba: np.ndarray) -> MetricEstimate:
    k = proba.shape[1]
    present = np.unique(rows.y)
    if len(present) < k:
        return MetricEstimate(None, undefined_reason="not every class is present for a one-vs-rest average")
    parts = [_auc(proba[:, c], rows.y == c) for c in range(k)]
    return _average(parts)


def _average_precision(rows: PairedRows, proba: np.ndarray, weight: np.ndarray | None = None) -> float:
    from sklearn.metrics import average_precision_score

    if rows.positive is not None:
        return float(
            average_precision_score(rows.y == rows.positive, proba[:, rows.positive], sample_weight=weight)
        )
    onehot = rows.y[:, None] == np.arange(proba.shape[1])[None, :]
    return float(average_precision_score(onehot, proba, average="macro", sample_weight=weight))


# ---------------------------------------------------------------- bootstrap


@dataclass
class PsiHistogram:
    """Mergeable sufficient statistic of a set of psi values: count, sum, sum of squares per bin."""

    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    edges: np.ndarray | None = None  # fixed edges (`with_edges`): only such histograms merge

    @classmethod
    def of(cls, psi: np.ndarray, bins: int) -> PsiHistogram:
        values = np.unique(psi) if len(psi) <= 50_000 else None
        if values is not None and len(values) <= bins:
            codes = np.searchsorted(values, psi)
            width = len(values)
        else:
            lo, hi = float(psi.min()), float(psi.max())
            span = hi - lo or 1.0
            codes = np.minimum(((psi - lo) / span * bins).astype(np.int64), bins - 1)
            width = bins
        count = np.bincount(codes, minlength=width).astype(float)
        total = np.bincount(codes, weights=psi, minlength=width)
        squares = np.bincount(codes, weights=psi * psi, minlength=width)
        keep = count > 0
        return cls(count[keep], total[keep], squares[keep])

    @classmethod
    def with_edges(cls, psi: np.ndarray, edges: np.ndarray) -> PsiHistogram:
        """Every bin of fixed `edges` kept, so histograms of data partitions line up and merge."""
        width = len(edges) + 1
        codes = np.searchsorted(edges, psi, side="right")
        return cls(
            np.bincount(codes, minlength=width).astype(float),
            np.bincount(codes, weights=psi, minlength=width),
            np.bincount(codes, weights=psi * psi, minlength=width),
        )

    def merge(self, other: PsiHistogram) -> PsiHistogram:
        """Histograms of disjoint row sets with the same edges (`with_edges`) add up."""
        if len(self.count) != len(other.count):
            raise ValueError(
                "only histograms with the same edges merge: build both with PsiHistogram.with_edges"
            )
        return PsiHistogram(self.count + other.count, self.total + other.total, self.squares + other.squares)

    def resample_means(self, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
        """Means of psi over `n_resamples` Poisson-bootstrap resamples."""
        filled = np.maximum(self.count, 1.0)  # empty bins draw nothing; keep their moments finite
        mean = self.total / filled
        var = np.maximum(self.squares / filled - mean * mean, 0.0)
        draws = rng.poisson(self.count, size=(n_resamples, len(self.count))).astype(float)
        rows = np.maximum(draws.sum(axis=1), 1.0)
        sums = draws @ mean
        spread = draws @ var
        if spread.any():
            sums += np.sqrt(spread) * rng.standard_normal(n_resamples)
        return sums / rows


@dataclass
class PairedDelta:
    """Champion, candidate, delta and the delta's bootstrap distribution on one set of rows."""

    metric: str
    n: int
    candidate: float | None
    champion: float | None = None
    delta: float | None = None
    undefined_reason: str | None = None
    resamples: np.ndarray | None = None  # bootstrap deltas (candidate - champion)
    psi_sd: float | None = None  # sd of the per-row influence of the delta (for power)
    method: str = ""
    minority: int | None = None  # rows of the rarest class (classification), which bounds what AUC can tell

    @property
    def gain(self) -> float | None:
        if self.delta is None:
            return None
        return self.delta if HIGHER_IS_BETTER[self.metric] else -self.delta

    def gains(self) -> np.ndarray | None:
        if self.resamples is None:
            return None
        return self.resamples if HIGHER_IS_BETTER[self.metric] else -self.resamples

    def interval(self, level: float) -> tuple[float | None, float | None]:
        """Percentile interval of the delta at `level`."""
        if self.resamples is None:
            return (None, None)
        alpha = 1 - level
        lo, hi = np.quantile(self.resamples, [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)


def paired_delta(
    metric: str,
    rows: PairedRows,
    *,
    n_resamples: int,
    rng: np.random.Generator,
    bins: int = 64,
    max_row_bootstrap: int = 2_000_000,
) -> PairedDelta:
    """Exact point estimates and the paired bootstrap distribution of the delta on `rows`."""
    result = _paired_delta(
        metric, rows, n_resamples=n_resamples, rng=rng, bins=bins, max_row_bootstrap=max_row_bootstrap
    )
    if rows.classes and rows.n:
        result.minority = int(np.bincount(rows.y, minlength=len(rows.classes)).min())
    return result


def _paired_delta(
    metric: str,
    rows: PairedRows,
    *,
    n_resamples: int,
    rng: np.random.Generator,
    bins: int,
    max_row_bootstrap: int,
) -> PairedDelta:
    cand = estimate(metric, rows, rows.candidate)
    if rows.champion is None:
        return PairedDelta(metric, rows.n, cand.value, undefined_reason=cand.undefined_reason)
    champ = estimate(metric, rows, rows.champion)
    reason = cand.undefined_reason or champ.undefined_reason
    if reason:
        return PairedDelta(metric, rows.n, cand.value, champ.value, None, reason)
    delta = cand.value - champ.value  # type: ignore[operator]
    if cand.psi is not None and champ.psi is not None:
        psi = cand.psi - champ.psi
        hist = PsiHistogram.of(psi, bins)
        resamples = delta + hist.resample_means(n_resamples, rng)
        method = "exact mean bootstrap" if metric in EXACT_MEAN else "linearised bootstrap"
        return PairedDelta(
            metric, rows.n, cand.value, champ.value, delta, None, resamples, float(psi.std()), method
        )
    if rows.n * n_resamples > max_row_bootstrap:
        n_resamples = max(100, max_row_bootstrap // max(rows.n, 1))
    resamples = np.full(n_resamples, np.nan)
    positives = rows.y == rows.positive if rows.positive is not None else None
    for b in range(n_resamples):
        weight = rng.poisson(1.0, rows.n).astype(float)
        if positives is not None and not (weight[positives].sum() > 0 and weight[~positives].sum() > 0):
            continue  # this resample drew one class only: AP is undefined there
        resamples[b] = _average_precision(rows, rows.candidate, weight) - _average_precision(
            rows, rows.champion, weight
        )
    resamples = resamples[~np.isnan(resamples)]
    if len(resamples) < n_resamples // 2:
        return PairedDelta(
            metric,
            rows.n,
            cand.value,
            champ.value,
            delta,
            None,
            None,
            None,
            "row bootstrap: too few resamples with both classes",
        )
    sd = float(np.std(resamples) * np.sqrt(rows.n))
    return PairedDelta(
        metric, rows.n, cand.value, champ.value, delta, None, resamples, sd, f"row bootstrap ({n_resamples})"
    )


# ---------------------------------------------------------------- segments


@dataclass
class SegmentComparison:
    """A segment's paired comparison on the primary metric, plus secondary metrics."""

    segment: str
    where: dict[str, Any]
    primary: PairedDelta
    secondary: dict[str, PairedDelta] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.primary.n


def compare_segment(
    name: str,
    where: dict[str, Any],
    rows: PairedRows,
    metrics: Sequence[str],
    *,
    n_resamples: int,
    rng: np.random.Generator,
    bins: int = 64,
) -> SegmentComparison:
    """Primary metric (first of `metrics`) and the rest, each with its paired bootstrap."""
    results = [paired_delta(m, rows, n_resamples=n_resamples, rng=rng, bins=bins) for m in metrics]
    return SegmentComparison(name, dict(where), results[0], {r.metric: r for r in results[1:]})
