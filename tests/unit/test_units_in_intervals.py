"""Intervals over whole units (entities, time blocks, runs of the file's order) need enough units: a
segment whose rows fall in a handful of them has no interval worth judging, and discovery neither
searches and confirms in the same units nor confirms in too few of them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.compare.discovery import _halves, discover_regressions
from gatekeeper.compare.segments import compare_models
from gatekeeper.decide.decision import Evidence, with_comparison
from gatekeeper.decide.judge import judge
from gatekeeper.decide.policy import decide
from gatekeeper.demo.worlds import lasting_regime
from gatekeeper.stats.bootstrap import paired_delta
from gatekeeper.stats.rows import PairedRows
from gatekeeper.stats.time_blocks import in_time_blocks
from gatekeeper.stats.units import MIN_INTERVAL_UNITS
from tests.builders import make_config


def _world(seed: int, kind: str) -> tuple[pd.DataFrame, PairedRows]:
    """No subgroup effect in the population. `entities`: 300 entities of 40 rows, each with its own
    advantage for one model, `store` an entity's attribute (ten entities a store); `time`: rows in
    time order whose advantage moves with a regime lasting ~200 rows, `store` a feature that drifts
    along time. Either way a store's rows share a few units' noise, which looks like a regression."""
    rng = np.random.default_rng(seed)
    stores = np.array([f"s{i}" for i in range(30)])
    if kind == "entities":
        entity = np.repeat(np.arange(300), 40)
        n = len(entity)
        store = rng.choice(stores, 300)[entity]
        advantage = rng.normal(0, 1.0, 300)[entity]
    else:
        n = 12_000
        advantage = lasting_regime(n, 0.995, rng)
        walk = np.cumsum(rng.normal(0, 1, n)) / np.sqrt(n) * 8 + 15
        store = stores[np.clip(walk.astype(int), 0, 29)]
        entity = None
    y = (rng.random(n) < 0.5).astype(int)
    sign = np.where(y == 1, 1.0, -1.0)
    cand = 1 / (1 + np.exp(-sign * (1.0 + 0.5 * advantage + rng.normal(0, 1, n))))
    champ = 1 / (1 + np.exp(-sign * (1.0 - 0.5 * advantage + rng.normal(0, 1, n))))
    frame = pd.DataFrame({"store": store, "plan": rng.choice(list("abcd"), n)})
    rows = PairedRows(y, np.column_stack([1 - cand, cand]), np.column_stack([1 - champ, champ]), [0, 1], 1)
    if entity is not None:
        return frame, rows.with_clusters(entity)
    blocked, length = in_time_blocks(rows, None, "roc_auc")
    assert length > 1
    return frame, blocked


@pytest.mark.parametrize("kind", ["entities", "time"])
def test_discovery_does_not_confirm_a_few_units_noise_as_a_regression(kind) -> None:
    """Before units were split whole and counted, discovery confirmed 4 false regressions in these 10
    entity worlds and 3 in the 10 time worlds (a store: a few units' noise); a 95% procedure allows
    about one in ten worlds."""
    config = make_config(min_segment_rows=200)
    confirmed = []
    for seed in range(10):
        frame, rows = _world(seed, kind)
        found = discover_regressions(frame, ["store", "plan"], rows, "roc_auc", config)
        confirmed += [(seed, f.subgroup) for f in found if f.confirmed]
    assert len(confirmed) <= 1, confirmed


def test_the_search_and_the_confirmation_never_share_a_unit() -> None:
    units = np.repeat(np.arange(500), np.random.default_rng(1).integers(1, 60, 500))
    search, confirm = _halves(len(units), units, np.random.default_rng(2))
    assert not set(units[search]) & set(units[confirm])
    assert len(search) + len(confirm) == len(units)
    assert 0.4 < len(search) / len(units) <= 0.5
    rows = np.arange(1_001)
    search, confirm = _halves(len(rows), None, np.random.default_rng(2))  # rows as before: a half each
    assert (len(search), len(confirm)) == (500, 501)


def test_a_segment_in_too_few_units_has_insufficient_data_and_says_why() -> None:
    """A key segment whose 600 rows are three entities: the cluster bootstrap has three values to
    resample, so its interval says nothing; the decision names the units, not the rows."""
    rng = np.random.default_rng(3)
    n = 6_000
    entity = np.repeat(np.arange(n // 200), 200)  # 30 entities of 200 rows
    y = (rng.random(n) < 0.5).astype(int)
    sign = np.where(y == 1, 1.0, -1.0)
    cand = 1 / (1 + np.exp(-sign * (1.0 + rng.normal(0, 1, n))))
    champ = 1 / (1 + np.exp(-sign * (1.0 + rng.normal(0, 1, n))))
    frame = pd.DataFrame({"is_fraud": y, "browser": np.where(entity < 3, "chrome-beta", "other")})
    rows = PairedRows(y, np.column_stack([1 - cand, cand]), np.column_stack([1 - champ, champ]), [0, 1], 1)
    rows = rows.with_clusters(entity)
    config = make_config(segments=["browser"])
    comparison = compare_models(frame, rows, config)
    (beta,) = comparison.key_segments
    assert beta.primary.units == 3
    assert beta.primary.units < MIN_INTERVAL_UNITS
    assert judge(beta.primary, min_rows=200, tolerance=0.0, min_improvement=0.002, level=0.95).status == (
        "insufficient_data"
    )
    evidence = Evidence("m", "roc_auc", champion_version="1", candidate_version="2")
    decision = decide(with_comparison(evidence, comparison), config)
    (check,) = [c for c in decision.checks if c.check == "key_segment_insufficient_data"]
    assert "fall in 3 independent units" in check.message, check.message
    assert decision.decision != "promoted"
    # every row its own unit: the same rows are judged as before
    alone = paired_delta("roc_auc", rows.take(np.flatnonzero(entity < 3)), n_resamples=200, rng=rng)
    assert alone.units == 3
    plain = PairedRows(y, rows.candidate, rows.champion, [0, 1], 1).take(np.flatnonzero(entity < 3))
    assert paired_delta("roc_auc", plain, n_resamples=200, rng=rng).units is None


@pytest.mark.parametrize("units", [None, 40, 4])
def test_a_newest_fold_in_too_few_units_warns_rather_than_rejects(units) -> None:
    """The newest fold's gain reverses, clearly by its own interval; when that interval comes from
    four time blocks (a regime as long as the fold) it is no evidence, so the gate warns instead."""
    from dataclasses import replace

    from gatekeeper.decide.stability import stability_checks
    from tests.builders import evidence, seg

    def fold(i: int, candidate: float):  # `seg` reads a name as col=value: named after
        return replace(seg("overall", 0.80, candidate, 2000, sd=0.004), segment=f"time fold {i}/4")

    folds = [fold(i, 0.83) for i in range(1, 4)]
    newest = fold(4, 0.77)
    method = "linearised bootstrap" + ("" if units is None else f" over {units} time blocks of 500 rows")
    newest = replace(
        newest, primary=replace(newest.primary, units=units, unit="time blocks of 500 rows", method=method)
    )
    base = evidence()
    found = stability_checks(replace(base, time_folds=[*folds, newest]), make_config(time_column="t"))[1]
    (check,) = found
    assert check.effect == ("warn" if units == 4 else "reject"), check.message
    if units == 4:
        assert "only 4 independent units (4 time blocks of 500 rows)" in check.message
