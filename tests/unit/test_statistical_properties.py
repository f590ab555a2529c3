"""The statistics are proven by simulation: coverage, false promotions, planted regressions.

Seeded, so each test is deterministic; the figures are printed with `pytest -s`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.compare.discovery import discover_regressions
from gatekeeper.decide.judge import judge
from gatekeeper.metrics import estimate
from gatekeeper.stats.bootstrap import paired_delta
from gatekeeper.stats.rows import PairedRows
from tests.builders import make_config

pytestmark = pytest.mark.slow  # simulations of many trials

TRIALS = 400


def _population(n: int, rng: np.random.Generator, candidate_noise: float, champion_noise: float):
    y = rng.integers(0, 2, n)
    signal = 1.0 * y + rng.normal(0, 1, n)

    def model(noise: float) -> np.ndarray:
        p = 1 / (1 + np.exp(-(signal + rng.normal(0, noise, n) - 0.5)))
        return np.column_stack([1 - p, p])

    return y, model(candidate_noise), model(champion_noise)


@pytest.fixture(scope="module")
def population():
    rng = np.random.default_rng(2024)
    y, cand, champ = _population(1_000_000, rng, candidate_noise=0.5, champion_noise=0.8)
    whole = PairedRows.from_labels(y, cand, champ, [0, 1])
    truth = {
        m: estimate(m, whole.targets, cand).value - estimate(m, whole.targets, champ).value
        for m in ("accuracy", "roc_auc")
    }
    return y, cand, champ, truth


@pytest.mark.parametrize("metric", ["accuracy", "roc_auc"])
def test_95_percent_intervals_cover_the_true_delta(population, metric: str) -> None:
    y, cand, champ, truth = population
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(TRIALS):
        idx = rng.integers(0, len(y), 2_000)
        rows = PairedRows(y[idx], cand[idx], champ[idx], [0, 1], 1)
        lo, hi = paired_delta(metric, rows, n_resamples=1000, rng=rng).interval(0.95)
        covered += lo <= truth[metric] <= hi
    coverage = covered / TRIALS
    print(f"{metric}: true delta {truth[metric]:+.4f}, coverage {coverage:.3f} over {TRIALS} trials")
    assert 0.93 <= coverage <= 0.97


def test_equal_models_are_rarely_promoted_where_point_comparison_promotes_half_the_time() -> None:
    rng = np.random.default_rng(11)
    gate, point = 0, 0
    for _ in range(TRIALS):
        # two seeds of the same training: equally good models whose scores differ by noise
        y, cand, champ = _population(3_000, rng, candidate_noise=0.3, champion_noise=0.3)
        delta = paired_delta("roc_auc", PairedRows(y, cand, champ, [0, 1], 1), n_resamples=1000, rng=rng)
        verdict = judge(delta, min_rows=1, tolerance=0.0, min_improvement=0.0, level=0.95)
        gate += verdict.status == "improved"
        point += delta.delta > 0
    print(f"equal models: gate promotes {gate / TRIALS:.3f}, point comparison {point / TRIALS:.3f}")
    assert gate / TRIALS <= 0.05
    assert 0.4 <= point / TRIALS <= 0.6


def test_discovery_finds_a_planted_regression_on_two_percent_of_rows() -> None:
    rng = np.random.default_rng(5)
    n = 40_000
    frame = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west", "centre"], n),
            "plan": rng.choice([f"p{i}" for i in range(10)], n),
            "tenure": rng.exponential(24, n).round(1),
        }
    )
    planted = ((frame["region"] == "east") & (frame["plan"] == "p3")).to_numpy()  # about 2%
    y = rng.integers(0, 2, n)
    signal = 1.2 * y + rng.normal(0, 1, n)
    champ_p = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.5, n) - 0.6)))
    cand_signal = np.where(planted, rng.normal(0, 1, n), signal)  # the candidate lost it there
    cand_p = 1 / (1 + np.exp(-(cand_signal + rng.normal(0, 0.4, n) - 0.6)))
    rows = PairedRows(
        y, np.column_stack([1 - cand_p, cand_p]), np.column_stack([1 - champ_p, champ_p]), [0, 1], 1
    )
    config = make_config(min_segment_rows=200)
    found = discover_regressions(frame, ["region", "plan", "tenure"], rows, "roc_auc", config)
    confirmed = [f for f in found if f.confirmed]
    summary = [(f.subgroup, f.n, f.confirmed) for f in found]
    print(f"planted share {planted.mean():.3%}; found: {summary}")
    assert confirmed, found
    assert set(confirmed[0].conditions) == {"region=east", "plan=p3"}
    assert confirmed[0].share == pytest.approx(planted.mean(), abs=0.002)


def test_discovery_reports_nothing_confirmed_when_models_are_equal() -> None:
    rng = np.random.default_rng(9)
    n = 40_000
    frame = pd.DataFrame(
        {"region": rng.choice(["a", "b", "c", "d"], n), "plan": rng.choice(list("uvwxyz"), n)}
    )
    y, cand, champ = _population(n, rng, candidate_noise=0.3, champion_noise=0.3)
    found = discover_regressions(
        frame, ["region", "plan"], PairedRows(y, cand, champ, [0, 1], 1), "roc_auc", make_config()
    )
    assert not [f for f in found if f.confirmed]
