"""Which classes drive a segment's change: recall per class, candidate - champion, as text (pure).

A macro average (one-vs-rest AUC, macro recall) can hold still while one class loses what others
gain: predictions that moved from one class to the others. Per segment, the classes whose recall
changed most, largest first, each with its paired interval and its share of the segment's rows,
name where the change comes from. A class with fewer rows in the segment than `min_class_rows`
is said to have too few rows, never ranked: its recall moves by whole rows.
"""

from __future__ import annotations

from gatekeeper.decide.decision import Decision, SegmentResult
from gatekeeper.findings import ClassRecall

TOP = 3  # classes named per segment


def ranked_classes(row: SegmentResult, min_rows: int) -> tuple[list[ClassRecall], list[ClassRecall]]:
    """The classes with a measured change and at least `min_rows` rows, largest |change| first;
    and those with fewer rows (not ranked)."""
    measured = [c for c in row.class_recall if c.delta is not None]
    ranked = sorted((c for c in measured if c.n >= min_rows), key=lambda c: (-abs(c.delta or 0.0), c.label))
    return ranked, [c for c in measured if c.n < min_rows]


def class_change(c: ClassRecall, segment_rows: int) -> str:
    """'pro: -0.242 [-0.289, -0.195] (28% of rows)', and ', within noise' when the interval holds 0."""
    assert c.delta is not None
    text = f"{c.label}: {c.delta:+.3f}"
    if c.ci_low is not None and c.ci_high is not None:
        text += f" [{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
    text += f" ({c.n / max(segment_rows, 1):.0%} of rows)"
    return text + ("" if c.clear else ", within noise")


def driving_classes(row: SegmentResult, min_rows: int = 0, top: int = TOP) -> str:
    """Which classes drive this segment's change, as one line ('' with nothing measured)."""
    ranked, few = ranked_classes(row, min_rows)
    parts = [class_change(c, row.n) for c in ranked[:top]]
    if few:
        shown = ", ".join(f"{c.label} ({c.n} rows)" for c in few[:5])
        more = f" and {len(few) - 5} more" if len(few) > 5 else ""
        parts.append(f"too few rows to rank (min_class_rows {min_rows}): {shown}{more}")
    return "; ".join(parts)


def class_lines(d: Decision, ordered: list[SegmentResult], max_rows: int = 40) -> list[str]:
    """The report's section for three or more classes: which classes drive each segment's change
    (`ordered`: the decision's rows in the report's order)."""
    rows = [r for r in ordered if len(r.class_recall) >= 3 and r.status != "baseline"]
    rows = [r for r in rows if any(c.delta is not None for c in r.class_recall)]
    if not rows:
        return []
    least = d.thresholds.min_class_rows
    lines = [
        "",
        "## Which classes drive each segment's change (recall per class, candidate - champion)",
        "",
        f"Largest change first, with its {d.confidence_level:.0%} paired bootstrap interval and the class's "
        "share of the segment's rows; a macro average can hold still while one class loses what the "
        "others gain.",
        "",
        "| segment | n | classes, largest change first |",
        "|---|---:|---|",
    ]
    lines += [f"| {r.segment} | {r.n} | {driving_classes(r, least) or '-'} |" for r in rows[:max_rows]]
    if len(rows) > max_rows:
        lines += ["", f"{len(rows) - max_rows} more segments in segments.csv (`classes_driving`)."]
    return lines
