"""Cross-segment gaps: does the candidate widen the gap between a column's best and worst segment?

As fairlearn's `MetricFrame.difference()` and TFMA's slice comparisons report, an average gain can
come with a wider spread between segments. For each configured segment column (or intersection),
among its segments with at least `min_segment_rows` rows and a defined metric, take the
candidate's best and worst segment; the gap between them widens by (gain there) - (gain here),
the difference of the two segments' paired deltas. Their rows are disjoint, so the widening's
interval comes from the two independent bootstrap distributions. Every column's gap is recorded
(a passing check with the numbers); with `max_gap_increase`, a widening beyond it whose interval
lies above zero asks a person to review.
"""

from __future__ import annotations

import numpy as np

from gatekeeper.config import PolicyConfig
from gatekeeper.metrics import metric
from gatekeeper.stats.bootstrap import SegmentComparison
from gatekeeper.vocabulary import Check


def gap_checks(segments: list[SegmentComparison], config: PolicyConfig) -> list[Check]:
    level = config.statistics.confidence_level
    groups: dict[tuple[str, ...], list[SegmentComparison]] = {}
    for s in segments:
        if s.where:
            groups.setdefault(tuple(sorted(s.where)), []).append(s)
    checks = []
    for columns, members in groups.items():
        usable = [
            s
            for s in members
            if s.n >= config.min_segment_rows
            and s.primary.candidate is not None
            and s.primary.gain is not None
            and s.primary.gains() is not None
        ]
        if len(usable) < 2:
            continue
        m = metric(usable[0].primary.metric)
        best = max(usable, key=lambda s: m.gain(s.primary.candidate or 0.0))
        worst = min(usable, key=lambda s: m.gain(s.primary.candidate or 0.0))
        best_gains, worst_gains = best.primary.gains(), worst.primary.gains()
        assert best_gains is not None
        assert worst_gains is not None
        assert best.primary.gain is not None
        assert worst.primary.gain is not None
        widening = best.primary.gain - worst.primary.gain
        k = min(len(best_gains), len(worst_gains))
        draws = best_gains[:k] - worst_gains[:k]
        lo, hi = (float(v) for v in np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2]))
        where = " & ".join(columns)
        text = (
            f"gap in {m.name} between the best ({best.segment}) and the worst ({worst.segment}) segment of "
            f"{where}: {'widens' if widening > 0 else 'narrows'} by {abs(widening):.4f} "
            f"[{lo:+.4f}, {hi:+.4f}] with the candidate"
        )
        observed = {
            "column": where,
            "best": best.segment,
            "worst": worst.segment,
            "widening": widening,
            "ci_low": lo,
            "ci_high": hi,
        }
        limit = config.max_gap_increase
        flagged = limit is not None and widening > limit and lo > 0
        checks.append(
            Check(
                "segment_gap",
                "review" if flagged else "none",
                text + (f", beyond max_gap_increase {limit}" if flagged else ""),
                segment=worst.segment,
                observed=observed,
                threshold=limit,
            )
        )
    return checks
