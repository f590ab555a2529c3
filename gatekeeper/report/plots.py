"""The segment forest plot: delta and interval per segment, key segments marked (PNG bytes)."""

from __future__ import annotations

import io
import textwrap

from gatekeeper.decide.decision import Decision, SegmentResult
from gatekeeper.report.markdown import ordered_segments
from gatekeeper.vocabulary import NOT_JUDGED

COLOURS = {
    "improved": "#2e7d32",
    "regressed": "#c62828",
    "at_risk": "#ef6c00",
    "inconclusive": "#757575",
    "no_change": "#1565c0",
}
MAX_ROWS = 40


def plotted_segments(decision: Decision) -> list[SegmentResult]:
    """The rows the forest plot shows, top to bottom: overall and key segments, then the judged
    segments with the largest |delta| (worst first), then segments too small to judge; at most
    MAX_ROWS."""
    higher_is_better = decision.thresholds.higher_is_better
    rows = [r for r in ordered_segments(decision) if r.delta is not None]
    head = [r for r in rows if r.segment == "overall" or r.key]
    judged = [r for r in rows if r not in head and r.status not in NOT_JUDGED]
    thin = [r for r in rows if r not in head and r not in judged]
    room = max(0, MAX_ROWS - len(head))
    largest = sorted(judged, key=lambda r: -abs(r.delta or 0.0))[:room]
    rest = sorted(largest, key=lambda r: (r.delta or 0.0) if higher_is_better else -(r.delta or 0.0))
    return head + (rest + sorted(thin, key=lambda r: -r.n))[:room]


LABEL_WIDTH = 44  # characters of a segment label per line: long labels wrap instead of squeezing the plot


def forest_plot(decision: Decision) -> bytes | None:
    """Delta and interval of each plotted segment as a PNG; None without a comparison."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in worker threads

    shown = plotted_segments(decision)
    if not shown:
        return None
    rows = [r for r in ordered_segments(decision) if r.delta is not None]
    higher_is_better = decision.thresholds.higher_is_better
    labels = [
        "\n".join(textwrap.wrap(f"{'★ ' if r.key else ''}{r.segment} (n={r.n}, {r.status})", LABEL_WIDTH))
        for r in reversed(shown)
    ]
    height = 1.2 + 0.32 * len(shown) + 0.16 * sum(label.count("\n") for label in labels)
    fig = Figure(figsize=(7.2, height), dpi=110)  # ~790 px: fits the Prefect UI's column
    ax = fig.add_subplot()
    for y, r in enumerate(reversed(shown)):
        colour = COLOURS.get(r.status, "#9e9e9e")
        delta = r.delta or 0.0
        lo = r.ci_low if r.ci_low is not None else delta
        hi = r.ci_high if r.ci_high is not None else delta
        ax.plot([lo, hi], [y, y], color=colour, linewidth=2)
        ax.plot([delta], [y], marker="D" if r.key else "o", color=colour, markersize=6)
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), reversed(shown), strict=True):
        if r.key or r.segment == "overall":
            tick.set_fontweight("bold")
    ax.axvline(0, color="black", linewidth=0.8)
    better = "right" if higher_is_better else "left"
    ax.set_xlabel(
        f"{decision.primary_metric}: candidate - champion, {decision.confidence_level:.0%} "
        f"interval ({better} is better)",
        fontsize=9,
    )
    hidden = len(rows) - len(shown)
    title = (
        f"{decision.model_name}: {decision.decision}  (★ key segment"
        + (f"; {hidden} smaller changes not shown" if hidden else "")
        + ")"
    )
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    # the box grows to hold long segment labels, the title and the axis label: nothing is cut off
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.15)
    return buf.getvalue()
