"""One model's label counts per score bin, and the metrics read from them (pure numpy).

A group of rows (a segment on some partitions) is summarised per model by how many positives and
negatives fall in each score bin, plus the sums of the exact per-row losses. From those come each
supported metric's value and every row's influence on it, as a lookup by (label, score bin), or
as the row's loss minus the mean (log loss, Brier). The formulas are those of
`gatekeeper.metrics` with score groups replaced by bins; `tests/unit/test_partitions.py` checks
them against scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gatekeeper.metrics import Array


@dataclass
class ModelCounts:
    """One model on one group's rows: label counts per score bin and loss sums (mergeable)."""

    positives: Array
    negatives: Array
    log_loss: float = 0.0
    brier: float = 0.0
    loss_min: Array = field(default_factory=lambda: np.full(2, np.inf))  # log loss, brier
    loss_max: Array = field(default_factory=lambda: np.full(2, -np.inf))

    @classmethod
    def empty(cls, n_bins: int) -> ModelCounts:
        return cls(np.zeros(n_bins), np.zeros(n_bins))

    def __sizeof__(self) -> int:  # what Dask counts (sys.getsizeof), so it can spill these
        return 200 + self.positives.nbytes + self.negatives.nbytes

    def add(self, other: ModelCounts) -> None:
        self.positives += other.positives
        self.negatives += other.negatives
        self.log_loss += other.log_loss
        self.brier += other.brier
        self.loss_min = np.minimum(self.loss_min, other.loss_min)
        self.loss_max = np.maximum(self.loss_max, other.loss_max)


def row_losses(scores: Array, positive: Array) -> tuple[Array, Array]:
    """Per-row log loss and Brier score exactly as `gatekeeper.metrics` computes them."""
    proba = np.column_stack([1 - scores, scores])
    eps = np.finfo(proba.dtype).eps
    p = np.clip(proba, eps, 1 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    log_loss = -np.log(np.where(positive, p[:, 1], p[:, 0]))
    return log_loss, (scores - positive) ** 2


@dataclass(frozen=True)
class Lookup:
    """One model's metric on a group and each row's influence: by (label, score bin) in `table`
    (shape 2 x bins: negatives, positives), or per row as loss minus `mean` (log loss, Brier)."""

    value: float | None
    table: Array | None = None
    mean: float | None = None
    undefined_reason: str | None = None

    def __sizeof__(self) -> int:
        return 200 + (0 if self.table is None else self.table.nbytes)

    def bounds(self, counts: ModelCounts, loss: int) -> tuple[float, float]:
        if self.table is not None:
            occupied = np.vstack([counts.negatives, counts.positives]) > 0
            values = self.table[occupied]
            return float(values.min()), float(values.max())
        assert self.mean is not None
        return float(counts.loss_min[loss] - self.mean), float(counts.loss_max[loss] - self.mean)


def _one_class(pos: float, neg: float) -> str | None:
    if pos == 0 or neg == 0:
        return f"only one class present ({'positive' if neg == 0 else 'negative'} rows only)"
    return None


def _auc(pos: Array, neg: Array) -> Lookup:
    n_pos, n_neg = pos.sum(), neg.sum()
    if (reason := _one_class(n_pos, n_neg)) is not None:
        return Lookup(None, undefined_reason=reason)
    n = n_pos + n_neg
    neg_below = np.cumsum(neg) - neg
    pos_above = n_pos - np.cumsum(pos)
    v10 = (neg_below + 0.5 * neg) / n_neg
    v01 = (pos_above + 0.5 * pos) / n_pos
    auc = float(np.dot(pos, v10) / n_pos)
    return Lookup(auc, np.vstack([(v01 - auc) * (n / n_neg), (v10 - auc) * (n / n_pos)]))


def _average_precision(pos: Array, neg: Array) -> Lookup:
    n_pos, n_neg = pos.sum(), neg.sum()
    if (reason := _one_class(n_pos, n_neg)) is not None:
        return Lookup(None, undefined_reason=reason)
    n = n_pos + n_neg
    pos_d, all_d = pos[::-1], (pos + neg)[::-1]  # thresholds from the highest score down
    at_least = np.cumsum(all_d)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(at_least > 0, np.cumsum(pos_d) / at_least, 0.0)
        share = np.where(at_least > 0, pos_d / (n_pos * at_least), 0.0)
    ap = float(np.dot(pos_d, precision) / n_pos)
    below = np.cumsum(share[::-1])[::-1]
    weighted_below = np.cumsum((share * precision)[::-1])[::-1]
    positive = ((precision - ap) / n_pos + below - weighted_below) * n
    negative = -weighted_below * n
    return Lookup(ap, np.vstack([negative[::-1], positive[::-1]]))


def _class_metric(name: str, pos: Array, neg: Array, above: Array) -> Lookup:
    """Metrics of the predicted class (score > 0.5): a (label, bin) cell's rows all share it."""
    n = float(pos.sum() + neg.sum())
    predicted = above.astype(float)  # per bin: 1 if the bin's scores are > 0.5
    y = np.vstack([np.zeros_like(predicted), np.ones_like(predicted)])  # table rows: label 0, 1
    pred = np.vstack([predicted, predicted])
    counts = np.vstack([neg, pos])

    def ratio(a: Array, b: Array, empty: float | None) -> tuple[float | None, Array | None]:
        b_sum = float((counts * b).sum())
        if b_sum == 0:
            return (empty, np.zeros_like(a)) if empty is not None else (None, None)
        r = float((counts * a).sum() / b_sum)
        return r, (a - r * b) / (b_sum / n)

    correct = (y == pred).astype(float)
    if name == "accuracy":
        share = float((counts * correct).sum() / n)
        return Lookup(share, correct - share)
    tp = y * pred
    value: float | None
    table: Array | None
    if name == "precision":
        value, table = ratio(tp, pred, 0.0)
    elif name == "recall":
        value, table = ratio(tp, y, 0.0)
    elif name == "f1":
        value, table = ratio(2 * tp, pred + y, 0.0)
    else:  # balanced accuracy: the mean of each class's recall
        parts = [ratio(y * pred, y, None), ratio((1 - y) * (1 - pred), 1 - y, None)]
        defined = [(v, t) for v, t in parts if v is not None and t is not None]
        if not defined:
            return Lookup(None, undefined_reason="no class has rows")
        value = float(np.mean([v for v, _ in defined]))
        table = np.mean([t for _, t in defined], axis=0)
    if value is None:
        return Lookup(None, undefined_reason="no rows in the denominator")
    return Lookup(value, table)


def lookup(name: str, counts: ModelCounts, above: Array) -> Lookup:
    """`name` of one model on one group, from pass 1's counts."""
    pos, neg = counts.positives, counts.negatives
    n = float(pos.sum() + neg.sum())
    if n == 0:
        return Lookup(None, undefined_reason="no rows")
    if name == "roc_auc":
        return _auc(pos, neg)
    if name == "average_precision":
        return _average_precision(pos, neg)
    if name in ("log_loss", "brier"):
        mean = (counts.log_loss if name == "log_loss" else counts.brier) / n
        return Lookup(mean, mean=mean)
    return _class_metric(name, pos, neg, above)
