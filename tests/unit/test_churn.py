"""Prediction churn: the share of decisions that flip between champion and candidate."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatekeeper.compare.segments import compare_models
from gatekeeper.decide.decision import Evidence, with_comparison
from gatekeeper.decide.policy import decide
from gatekeeper.report.markdown import render_markdown
from gatekeeper.stats.bootstrap import churn
from gatekeeper.stats.rows import PairedRows
from tests.builders import make_config


def _rows(seed: int, candidate_skill: float, n: int = 8_000) -> tuple[pd.DataFrame, PairedRows]:
    """Two models that see the same signal with independent noise: their decisions disagree on
    many rows whatever their skill; the candidate's `candidate_skill` sets whether it is better."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    champion = 1 / (1 + np.exp(-(signal + rng.normal(0, 1.0, n))))
    candidate = 1 / (1 + np.exp(-(candidate_skill * signal + rng.normal(0, 1.0, n))))
    frame = pd.DataFrame({"region": rng.choice(["north", "south"], n), "y": y})
    stack = lambda p: np.column_stack([1 - p, p])  # noqa: E731
    return frame, PairedRows.from_labels(y, stack(candidate), stack(champion), [0, 1])


def _decide(frame: pd.DataFrame, rows: PairedRows, **config: object):
    policy = make_config(target="y", segments=["region"], key_segments=[], **config)
    evidence = Evidence("m", "roc_auc", champion_version="1", candidate_version="2")
    return decide(with_comparison(evidence, compare_models(frame, rows, policy)), policy)


def test_churn_is_the_share_of_flipped_decisions() -> None:
    proba = lambda p: np.column_stack([1 - p, p])  # noqa: E731
    rows = PairedRows.from_labels(
        np.array([0, 1, 0, 1]),
        proba(np.array([0.9, 0.9, 0.1, 0.1])),
        proba(np.array([0.1, 0.9, 0.1, 0.9])),
        [0, 1],
    )
    assert churn(rows) == 0.5
    assert churn(PairedRows.regression(np.zeros(3), np.zeros(3), np.zeros(3))) is None


def test_churn_is_reported_overall_and_per_segment_without_gating() -> None:
    frame, rows = _rows(1, candidate_skill=1.0)
    decision = _decide(frame, rows)
    assert decision.overall is not None
    assert decision.overall.churn is not None
    assert 0.1 < decision.overall.churn < 0.5
    assert all(s.churn is not None for s in decision.segments)
    assert not [c for c in decision.checks if c.check == "churn"]
    assert "| churn |" in render_markdown(decision)


def test_large_churn_without_a_gain_keeps_the_champion() -> None:
    frame, rows = _rows(2, candidate_skill=1.0)  # as good as the champion, different decisions
    decision = _decide(frame, rows, max_churn=0.05)
    (finding,) = [c for c in decision.checks if c.check == "churn"]
    assert finding.effect == "reject"
    assert "without a clear gain" in finding.message
    assert decision.decision == "rejected"


def test_large_churn_with_a_clear_gain_asks_a_person() -> None:
    frame, rows = _rows(3, candidate_skill=2.5)
    decision = _decide(frame, rows, max_churn=0.05)
    assert decision.overall is not None
    assert decision.overall.status == "improved"
    (finding,) = [c for c in decision.checks if c.check == "churn"]
    assert finding.effect == "review"
    assert decision.decision == "needs_review"


# ------------------------------------------------------------------ cross-segment gap


def _regions(seed: int, south_skill: float, n: int = 12_000) -> tuple[pd.DataFrame, PairedRows]:
    """The candidate is better in the north and, with `south_skill` < 1, worse in the south."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south"], n)
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    noise = rng.normal(0, 1.0, n)
    champion = 1 / (1 + np.exp(-(signal + noise)))
    skill = np.where(region == "north", 2.0, south_skill)
    candidate = 1 / (1 + np.exp(-(skill * signal + noise)))
    stack = lambda p: np.column_stack([1 - p, p])  # noqa: E731
    return pd.DataFrame({"region": region, "y": y}), PairedRows.from_labels(
        y, stack(candidate), stack(champion), [0, 1]
    )


def test_a_widened_gap_between_segments_is_measured_and_flagged_beyond_its_tolerance() -> None:
    frame, rows = _regions(4, south_skill=0.6)
    reported = _decide(frame, rows)
    (gap,) = [c for c in reported.checks if c.check == "segment_gap"]
    assert gap.effect == "none"
    assert gap.observed["best"] == "region=north"
    assert gap.observed["worst"] == "region=south"
    assert gap.observed["ci_low"] > 0
    assert "widens by" in gap.message
    flagged = _decide(frame, rows, max_gap_increase=0.01)
    (gap,) = [c for c in flagged.checks if c.check == "segment_gap"]
    assert gap.effect == "review"
    assert flagged.decision == "needs_review"
    assert "Gap between each segment column's best and worst segment" in render_markdown(flagged)


def test_an_even_gain_does_not_widen_the_gap() -> None:
    frame, rows = _regions(5, south_skill=2.0)
    decision = _decide(frame, rows, max_gap_increase=0.01)
    (gap,) = [c for c in decision.checks if c.check == "segment_gap"]
    assert gap.effect == "none"
    assert gap.observed["ci_low"] < 0.01
