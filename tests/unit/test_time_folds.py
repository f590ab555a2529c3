"""Gains that do not last: the comparison judged per time fold of the evaluation rows."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from gatekeeper.compare.segments import compare_models, time_folds
from gatekeeper.decide.decision import Evidence, with_comparison
from gatekeeper.decide.policy import decide
from gatekeeper.stats.rows import PairedRows
from tests.builders import make_config


def _world(
    seed: int, newest_reverses: bool, n: int = 16_000, shift: float = 1.0
) -> tuple[pd.DataFrame, PairedRows]:
    """Champion and candidate scores on time-ordered rows. The candidate knows a signal the
    champion lacks; when `newest_reverses`, in the last quarter of time that signal turns against
    the label (the world moved on) and the candidate is worse there."""
    rng = np.random.default_rng(seed)
    day = np.sort(rng.integers(0, 120, n))
    base, extra = rng.normal(size=n), rng.normal(size=n)
    late = day >= 90
    sign = np.where(late & newest_reverses, -1.0, 1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-(base + shift * sign * extra)))).astype(int)
    champion = 1 / (1 + np.exp(-base))
    candidate = 1 / (1 + np.exp(-(base + 0.6 * extra)))
    frame = pd.DataFrame({"day": pd.Timestamp("2026-01-01") + pd.to_timedelta(day, "D"), "y": y})
    stack = lambda p: np.column_stack([1 - p, p])  # noqa: E731
    return frame, PairedRows.from_labels(y, stack(candidate), stack(champion), [0, 1])


def _decide(frame: pd.DataFrame, rows: PairedRows, **config: object):
    policy = make_config(target="y", segments=[], key_segments=[], time_column="day", **config)
    evidence = Evidence("m", "roc_auc", champion_version="1", candidate_version="2")
    return decide(with_comparison(evidence, compare_models(frame, rows, policy)), policy)


def test_folds_are_equal_sized_oldest_first_and_never_split_a_time() -> None:
    frame = pd.DataFrame({"t": np.repeat(np.arange(10), 10)[::-1], "y": 0})  # newest rows first in the file
    config = make_config(target="y", time_column="t", time_folds=4, segments=[], key_segments=[])
    folds = time_folds(frame, config)
    assert [name.split(" (")[0] for name, _ in folds] == [f"time fold {i}/4" for i in range(1, 5)]
    times = [set(frame["t"].iloc[index]) for _, index in folds]
    assert all(max(a) < min(b) for a, b in pairwise(times))  # oldest first, no time in two folds
    assert sum(len(index) for _, index in folds) == len(frame)
    assert time_folds(frame, make_config(target="y", segments=[], key_segments=[])) == []


def test_a_gain_that_reverses_in_the_newest_fold_is_rejected() -> None:
    frame, rows = _world(1, newest_reverses=True)
    decision = _decide(frame, rows)
    assert decision.overall is not None
    assert decision.overall.delta > 0, "better overall: a plain comparison would promote"
    assert decision.decision == "rejected"
    (finding,) = [c for c in decision.checks if c.check == "stability.time"]
    assert finding.effect == "reject"
    assert "gain not stable over time" in finding.message
    assert finding.segment.startswith("time fold 4/4")
    assert len(decision.time_folds) == 4
    assert decision.time_folds[-1].delta < 0 < decision.time_folds[0].delta


def test_a_gain_that_holds_over_time_is_promoted_with_the_folds_shown() -> None:
    frame, rows = _world(2, newest_reverses=False)
    decision = _decide(frame, rows)
    assert decision.decision == "promoted"
    assert not [c for c in decision.checks if c.check == "stability.time"]
    assert all(r.delta > 0 for r in decision.time_folds)


@pytest.mark.slow
def test_a_small_gain_is_not_rejected_for_noise_in_its_newest_fold() -> None:
    """A small, steady gain: in some worlds the newest fold's point estimate dips below zero by
    chance. That is a warning at most, never a rejection, in 30 of 30 worlds."""
    rejected = 0
    for seed in range(30):
        frame, rows = _world(100 + seed, newest_reverses=False, n=4_000, shift=0.15)
        decision = _decide(frame, rows, statistics={"n_resamples": 300})
        rejected += any(c.check == "stability.time" and c.effect == "reject" for c in decision.checks)
    assert rejected == 0


def test_without_a_time_column_there_are_no_folds_and_the_file_order_still_counts() -> None:
    """No time column: no folds. Rows in the file's time order still tie neighbours together (the gain
    lasts only part of the file), so the comparison counts runs of rows and finds no clear gain;
    the same rows shuffled are independent, and the gain is clear."""
    frame, rows = _world(1, newest_reverses=True)
    policy = make_config(target="y", segments=[], key_segments=[])
    evidence = Evidence("m", "roc_auc", champion_version="1", candidate_version="2")
    in_order = decide(with_comparison(evidence, compare_models(frame, rows, policy)), policy)
    assert in_order.time_folds == []
    assert in_order.overall is not None
    assert "(the file's order)" in in_order.overall.method
    assert in_order.decision != "promoted"
    shuffle = np.random.default_rng(0).permutation(len(frame))
    shuffled = compare_models(frame.iloc[shuffle].reset_index(drop=True), rows.take(shuffle), policy)
    decision = decide(with_comparison(evidence, shuffled), policy)
    assert decision.time_folds == []
    assert decision.decision == "promoted"
