"""Gains that do not last, and changes that cost more than they give (pure).

Time.
On time-ordered data the evaluation window can favour a candidate that fits the recent past
while the world moves on. With a `time_column`, the evaluation rows are cut into `time_folds`
folds of equal size, oldest first, and each gets its own paired comparison. A candidate better
overall is rejected ("gain not stable over time") when its gain reverses in the newest fold
with evidence: the newest fold's interval lies below zero, or its gain is below the earlier
folds' pooled gain by more than their noise allows (one-sided, at the confidence level). A
reversal within the noise, or in a newest fold whose rows fall in fewer independent units than an
interval needs (`MIN_INTERVAL_UNITS`: a regime as long as the fold), is a warning: not enough
evidence either way.

Churn. Every decision that flips between champion and candidate is a change someone downstream
sees. With `max_churn`, more flipped rows than that is a reason to keep the champion when the
candidate is not clearly better (rejected), and a reason for a person to look when it is
(needs_review).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from gatekeeper.config import PolicyConfig
from gatekeeper.decide.decision import Evidence, SegmentResult
from gatekeeper.decide.judge import judge
from gatekeeper.decide.results import result_row
from gatekeeper.stats.bootstrap import PairedDelta, SegmentComparison
from gatekeeper.vocabulary import Check, SegmentStatus


def stability_checks(evidence: Evidence, config: PolicyConfig) -> tuple[list[SegmentResult], list[Check]]:
    """The per-fold rows of the decision, and a finding when the gain reverses in the newest fold."""
    folds = evidence.time_folds
    if len(folds) < 2 or evidence.overall is None:
        return [], []
    level = config.statistics.confidence_level
    rows = [
        result_row(
            f,
            judge(f.primary, min_rows=1, tolerance=0.0, min_improvement=config.min_improvement, level=level),
            key=None,
            level=level,
        )
        for f in folds
    ]
    overall, newest = evidence.overall.primary.gain, folds[-1].primary
    if overall is None or overall <= 0 or newest.gain is None or newest.gain >= 0:
        return rows, []
    new_gains, (old_gain, old_se) = newest.gains(), _pooled([f.primary for f in folds[:-1]])
    upper = float(np.quantile(new_gains, 1 - (1 - level) / 2)) if new_gains is not None else None
    p_drop = None
    if new_gains is not None and old_gain is not None and old_se is not None:
        se = float(np.hypot(np.std(new_gains), old_se))
        p_drop = NormalDist().cdf((newest.gain - old_gain) / se) if se > 0 else 0.0
    per_fold = "; ".join(
        f"{r.segment}: {r.delta:+.4f}" if r.delta is not None else f"{r.segment}: undefined" for r in rows
    )
    observed = {
        "overall_gain": overall,
        "newest_gain": newest.gain,
        "newest_upper": upper,
        "earlier_gain": old_gain,
        "p_drop": p_drop,
    }
    clear = (upper is not None and upper < 0) or (p_drop is not None and p_drop < (1 - level) / 2)
    if clear and not newest.too_few_units:
        return rows, [
            Check(
                "stability.time",
                "reject",
                f"gain not stable over time: better overall ({overall:+.4f} {evidence.primary_metric}) "
                f"but worse in the newest fold ({newest.gain:+.4f}, against {_num(old_gain)} in the earlier "
                f"folds); per fold, oldest first: {per_fold}",
                segment=folds[-1].segment,
                observed=observed,
            )
        ]
    return rows, [
        Check(
            "stability.time",
            "warn",
            f"gain not confirmed in the newest fold ({newest.gain:+.4f}), {_why_unclear(newest)}: not "
            f"enough evidence that it reverses; per fold, oldest first: {per_fold}",
            segment=folds[-1].segment,
            observed=observed,
        )
    ]


def _why_unclear(newest: PairedDelta) -> str:
    if newest.too_few_units:
        return f"its rows in only {newest.units} independent units ({newest.units_named})"
    return "within its noise"


def _pooled(deltas: list[PairedDelta]) -> tuple[float | None, float | None]:
    """The earlier folds' gain, weighted by their precision, and its standard error."""
    pairs = []
    for d in deltas:
        gains = d.gains()
        if d.gain is not None and gains is not None and np.std(gains) > 0:
            pairs.append((d.gain, float(np.std(gains))))
    if not pairs:
        return None, None
    weights = np.array([1 / se**2 for _, se in pairs])
    gain = float(np.sum(weights * np.array([g for g, _ in pairs])) / weights.sum())
    return gain, float(1 / np.sqrt(weights.sum()))


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def churn_checks(overall: SegmentComparison, status: SegmentStatus, config: PolicyConfig) -> list[Check]:
    """Too many flipped decisions: keep the champion unless the gain is clear, then ask a person."""
    if config.max_churn is None or overall.churn is None or overall.churn <= config.max_churn:
        return []
    flipped = (
        f"{overall.churn:.1%} of the evaluation rows change their predicted class "
        f"(max_churn {config.max_churn:.1%})"
    )
    if status == "improved":
        return [
            Check(
                "churn",
                "review",
                f"{flipped}, with a clear gain: a person should confirm the change is worth it",
                observed=overall.churn,
                threshold=config.max_churn,
            )
        ]
    return [
        Check(
            "churn",
            "reject",
            f"{flipped} without a clear gain ({status}): keeping the champion",
            observed=overall.churn,
            threshold=config.max_churn,
        )
    ]
