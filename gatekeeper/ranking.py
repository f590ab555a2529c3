"""The ranking metrics' exact values and per-row influence (pure numpy): ROC AUC and average
precision of one score against a binary truth, both classes present. `gatekeeper.metrics` wraps
them as registry entries; a row's influence is n x the first-order change of the value when the
row's weight changes (tested against scikit-learn's weighted scores by finite differences).

Both sort the rows once. On distinct scores (the usual case for a model's probabilities) ROC AUC
works in place on a few row-length buffers: at 1,000,000 rows every fresh buffer is 8 MB of memory
a process touches for the first time, which cost more than the arithmetic (a cold call of the
twelve-buffer form took 3-4x a warm one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]


def _starts(s: Array) -> Array:
    """Where each run of equal sorted scores begins."""
    starts = np.empty(len(s), dtype=bool)
    starts[0] = True
    np.not_equal(s[1:], s[:-1], out=starts[1:])
    return starts


def auc_of(score: Array, positive: Array, n_pos: int) -> tuple[float, Array]:
    """Exact Mann-Whitney AUC with average ties, and DeLong's per-row components as influence."""
    n = len(score)
    order = np.argsort(score)  # ties are grouped below, so the sort need not be stable
    starts = _starts(score[order])
    pos = positive[order]
    if starts.all():
        sorted_influence, auc = _distinct_auc(pos, n_pos, n - n_pos)
    else:
        sorted_influence, auc = _tied_auc(pos, starts, n_pos, n - n_pos)
    influence = np.empty(n)
    influence[order] = sorted_influence
    return auc, influence


def _distinct_auc(pos: Array, n_pos: int, n_neg: int) -> tuple[Array, float]:
    """`auc_of` on rows sorted by a score with no ties: the influence in that order, and the AUC."""
    n = len(pos)
    below = np.cumsum(~pos, dtype=float)  # negatives at or below each row; for a positive: below it
    share = below / n_neg  # for a positive: the share of negatives below it
    auc = float(np.dot(pos.astype(float), share) / n_pos)  # as the tied form sums it, to the last bit
    out = np.arange(-1.0, -n - 1.0, -1.0)  # a negative's positives above: n_pos - (i + 1 - below)
    out += below
    out += n_pos
    out /= n_pos
    out -= auc
    out *= n / n_neg
    at = share[pos]
    at -= auc
    at *= n / n_pos
    out[pos] = at
    return out, auc


def _tied_auc(pos: Array, starts: Array, n_pos: int, n_neg: int) -> tuple[Array, float]:
    """`auc_of` on rows sorted by a score with ties (`starts`: a row opens a new score): a tied
    pair counts a half."""
    n = len(pos)
    group = np.cumsum(starts) - 1
    pos_in = np.bincount(group, weights=pos)
    neg_in = np.bincount(group, weights=~pos)
    neg_below = np.cumsum(neg_in) - neg_in
    pos_above = n_pos - np.cumsum(pos_in)
    v10 = (neg_below + 0.5 * neg_in) / n_neg  # for a positive in the group: share of negatives below it
    v01 = (pos_above + 0.5 * pos_in) / n_pos  # for a negative: share of positives above it
    auc = float(np.dot(pos_in, v10) / n_pos)
    sorted_influence = v01[group] - auc  # a negative's influence, then a positive's where it is one
    sorted_influence *= n / n_neg
    for_positive = v10[group] - auc
    for_positive *= n / n_pos
    np.copyto(sorted_influence, for_positive, where=pos)
    return sorted_influence, auc


def ap_of(score: Array, positive: Array, n_pos: int) -> tuple[float, Array]:
    """Average precision exactly as scikit-learn computes it (one threshold per distinct score,
    precision at each threshold weighted by the recall it adds), with each row's influence.

    AP = sum_g pos_g prec_g / P over score groups g in decreasing order, prec_g = TP_g / N_g (rows
    scoring at least g's score). Raising row k's weight moves its own term (if positive), the
    normalisation P, and the precision of every threshold at or below its score:
    d AP / d w_k = pos_k (prec_k - AP) / P + sum over groups g at or below k of
    pos_g (pos_k - prec_g) / (P N_g). Suffix sums make that O(n log n); the influence is n times it.
    """
    n = len(score)
    order = np.argsort(-score)  # ties are grouped below, so the sort need not be stable
    starts = _starts(score[order])
    pos = positive[order]
    group = None if starts.all() else np.cumsum(starts) - 1  # None: no ties, each row its own group
    pos_in = pos.astype(float) if group is None else np.bincount(group, weights=pos)
    at_least = np.arange(1.0, n + 1) if group is None else np.cumsum(np.bincount(group).astype(float))
    precision = np.cumsum(pos_in) / at_least
    ap = float(np.dot(pos_in, precision) / n_pos)
    share = pos_in / (n_pos * at_least)
    below = np.cumsum(share[::-1])[::-1]  # sum over groups at or below each group's score
    weighted_below = np.cumsum((share * precision)[::-1])[::-1]
    if group is not None:
        precision, below, weighted_below = precision[group], below[group], weighted_below[group]
    sorted_influence = pos * ((precision - ap) / n_pos + below) - weighted_below
    influence = np.empty(n)
    influence[order] = sorted_influence * n
    return ap, influence
