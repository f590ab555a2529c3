"""Rows of the evidence table: a paired comparison and its verdict as the decision shows them."""

from __future__ import annotations

from typing import Any

from gatekeeper.config import KeySegment
from gatekeeper.decide.decision import MetricComparison, SegmentResult
from gatekeeper.decide.judge import Judged
from gatekeeper.findings import ClassRecall
from gatekeeper.stats.bootstrap import ClassDelta, PairedDelta, SegmentComparison


def fmt_ci(lo: float | None, hi: float | None, level: float) -> str:
    if lo is None or hi is None:
        return ""
    return f", {level:.0%} CI [{lo:+.4f}, {hi:+.4f}]"


def secondary_row(delta: PairedDelta, level: float) -> MetricComparison:
    lo, hi = delta.interval(level)
    return MetricComparison(delta.champion, delta.candidate, delta.delta, lo, hi, delta.undefined_reason)


def class_row(change: ClassDelta, level: float) -> ClassRecall:
    """One class's recall change as the decision records it: the interval at the configured level."""
    lo, hi = change.interval(level)
    return ClassRecall(change.label, change.n, change.candidate, change.champion, change.delta, lo, hi)


def result_row(
    cmp: SegmentComparison, verdict: Judged, *, key: KeySegment | None, level: float, **extra: Any
) -> SegmentResult:
    p = cmp.primary
    return SegmentResult(
        segment=cmp.segment,
        n=p.n,
        status=verdict.status,
        champion=p.champion,
        candidate=p.candidate,
        delta=p.delta,
        ci_low=verdict.ci_low,
        ci_high=verdict.ci_high,
        key=key is not None,
        max_regression=key.max_regression if key is not None else None,
        p_value_regressed=verdict.p_value_regressed,
        p_value_improved=verdict.p_value_improved,
        undefined_reason=p.undefined_reason,
        method=p.method or None,
        secondary={m: secondary_row(c, level) for m, c in cmp.secondary.items()},
        churn=cmp.churn,
        class_recall=[class_row(c, level) for c in cmp.classes],
        **extra,
    )
