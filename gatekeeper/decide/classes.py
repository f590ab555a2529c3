"""A class that falls behind: recall per class per segment as a decision check (pure).

With three or more classes, a macro average (one-vs-rest AUC, macro recall) and log loss can
rise while one class loses what the others gain: a candidate that predicts a plan less often in
one region moves that plan's rows to the other plans, and their recall rises as its falls. Each
segment's comparison carries every class's recall for both models on the same rows with the
paired bootstrap of the change (`gatekeeper.stats.bootstrap.class_recall`); a class whose
recall fell beyond noise, after the configured multiple-test correction over every (segment,
class) pair measured, is a warning that names the class and the segment. It does not stop a
promotion: the primary metric decides; the warning tells the reviewer where the gain was paid for.
"""

from __future__ import annotations

from gatekeeper.config import PolicyConfig
from gatekeeper.decide.decision import Evidence
from gatekeeper.decide.results import fmt_ci
from gatekeeper.stats.bootstrap import SegmentComparison
from gatekeeper.stats.inference import adjust, tail_probability
from gatekeeper.vocabulary import Check

MAX_CLASS_WARNINGS = 8


def class_recall_checks(evidence: Evidence, config: PolicyConfig) -> list[Check]:
    """Three or more classes: a class whose recall fell beyond noise in a segment (overall included) is
    a warning, named with its segment, even when the macro metrics rose: a macro average holds still
    when predictions move from one class to the others. Beyond noise means the recall change's
    bootstrap tail stays significant after the configured correction across every (segment, class)
    pair measured (segments of at least min_segment_rows rows, classes of at least min_class_rows)."""
    stats = config.statistics
    by_name: dict[str, SegmentComparison] = {}
    for cmp in [
        *([evidence.overall] if evidence.overall else []),
        *evidence.segments,
        *evidence.key_segments,
    ]:
        by_name[cmp.segment] = cmp
    family = [
        (cmp, c, tail_probability(c.resamples, 0.0, upper=True))
        for name, cmp in by_name.items()
        if len(cmp.classes) >= 3 and (name == "overall" or cmp.n >= config.min_segment_rows)
        for c in cmp.classes
        if c.resamples is not None and c.delta is not None and c.n >= config.min_class_rows
    ]
    adjusted = adjust([p for _, _, p in family], stats.correction)
    level = stats.confidence_level
    fell = sorted(
        ((cmp, c) for (cmp, c, _), p in zip(family, adjusted, strict=True) if p < (1 - level) / 2),
        key=lambda pair: pair[1].delta or 0.0,
    )
    checks = []
    for cmp, c in fell[:MAX_CLASS_WARNINGS]:
        lo, hi = c.interval(level)
        whole = "all rows" if cmp.segment == "overall" else "the segment"
        checks.append(
            Check(
                "class_recall_drop",
                "warn",
                f"recall of class {c.label!r} in {cmp.segment} fell {c.champion or 0.0:.3f} -> "
                f"{c.candidate:.3f} (change {c.delta or 0.0:+.3f}{fmt_ci(lo, hi, level)}; {c.n} rows, "
                f"{c.n / cmp.n:.0%} of {whole}), beyond noise after {stats.correction} correction "
                f"over {len(family)} (segment, class) pairs; an average over classes can hide it",
                segment=cmp.segment,
                observed={"class": c.label, "delta": c.delta, "ci_low": lo, "ci_high": hi, "rows": c.n},
                threshold=0.0,
            )
        )
    if len(fell) > MAX_CLASS_WARNINGS:
        checks.append(
            Check(
                "class_recall_drop",
                "warn",
                f"{len(fell) - MAX_CLASS_WARNINGS} more (segment, class) pairs whose recall fell beyond "
                "noise: see class_recall in decision.json",
            )
        )
    return checks
