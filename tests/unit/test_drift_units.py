"""Drift where rows are tied by time, order or entity (`gatekeeper.data.drift`): flagged only beyond
the reference's own drift between stretches as long as the batch, with p-values counting independent
units; shuffled rows keep the row-level result; a feature in other units is still flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.drift import design_effect, drift_report, natural_psi
from tests.builders import make_config
from tests.worlds import LAYOUTS, make_world
from tests.worlds import shuffled as shuffle

TARGETS = ("binary", "multiclass", "regression")


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
def test_drift_is_judged_against_the_reference_s_own_drift(layout: str) -> None:
    flagged_by_psi = flagged = judged_naturally = 0
    for seed in range(12):
        world = make_world(seed, layout, TARGETS[seed % 3], rows=8_000)  # type: ignore[arg-type]
        config = make_config(**world.config_overrides())
        results = drift_report(world.reference, world.batch, world.features, config)
        threshold = config.data_checks.psi_threshold
        for r in results:
            assert r.unit in {"time block", "run", "row", "cluster"}
            if r.drifted:  # beyond the threshold and beyond every stretch of the reference
                assert r.psi >= threshold
                assert r.natural_psi is None or r.psi > r.natural_psi
        flagged_by_psi += sum(r.psi >= threshold for r in results)
        flagged += sum(r.drifted for r in results)
        judged_naturally += sum(r.natural_psi is not None for r in results)
        # a feature in other units (x1.5 + 20) is drift beyond anything the world does by nature
        rescaled = world.batch.copy()
        level = world.names["level"]
        rescaled[level] = rescaled[level] * 1.5 + 20
        [overall] = [
            r
            for r in drift_report(world.reference, rescaled, world.features, config)
            if r.feature == level and r.segment == "overall"
        ]
        assert overall.drifted, overall
    assert judged_naturally > 0
    assert flagged < flagged_by_psi  # some of the world's own movement is no longer called drift


def test_shuffled_rows_keep_the_row_level_drift() -> None:
    world = make_world(1, "order", rows=8_000)
    shuffled = shuffle(world, seed=0)
    config = make_config(**shuffled.config_overrides())
    results = drift_report(shuffled.reference, shuffled.batch, shuffled.features, config)
    assert results
    assert all(r.unit == "row" and r.natural_psi is None for r in results)
    assert all(r.drifted == (r.psi >= config.data_checks.psi_threshold) for r in results)


def test_a_moderate_shift_in_a_short_batch_passes_the_natural_bar() -> None:
    """A number moved by 0.8 standard deviations in a 150-row batch of a time-ordered world whose
    levels wander: the natural bar compares like with like (stretches as short as the batch carry
    the same sampling noise; the 95th percentile of many, not the highest, sets the bar)."""
    found = tried = 0
    for seed in range(8):
        world = make_world(seed, "time", TARGETS[seed % 3], rows=8_000)  # type: ignore[arg-type]
        config = make_config(**world.config_overrides())
        level = world.names["level"]
        batch = world.batch.iloc[:150].copy()
        batch[level] = batch[level] + 0.8 * float(world.reference[level].std())
        [overall] = [
            r
            for r in drift_report(world.reference, batch, world.features, config)
            if r.feature == level and r.segment == "overall"
        ]
        tried += 1
        found += overall.drifted
    # measured: 6 of 8 (5 of 8 with the highest of 200 stretches as the bar)
    assert found >= 5, (found, tried)


def test_rows_uncorrelated_along_time_keep_the_row_level_result() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=4_000), "day": np.arange(4_000) // 10, "y": 0})
    batch = pd.DataFrame({"x": rng.normal(size=500) + 0.6, "day": 400 + np.arange(500) // 10, "y": 0})
    config = make_config(target="y", time_column="day", segments=[], key_segments=[])
    [result] = drift_report(reference, batch, ["x"], config)
    assert (result.unit, result.natural_psi) == ("row", None)
    assert result.drifted


def test_the_natural_bar_counts_per_stretch_not_rows_by_categories() -> None:
    """A million codes over 100,000 categories: a table of rows x categories would be 800 GB."""
    codes = np.random.default_rng(1).integers(0, 100_000, 1_000_000)
    bar = natural_psi(codes, 100_000, 50_000)
    assert bar is not None
    assert bar > 0


def test_rows_per_entity_unit_follow_how_alike_an_entity_s_rows_are() -> None:
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(400), rng.integers(1, 40, 400))
    sizes = np.bincount(groups)
    weighted = float(np.sum(sizes**2) / len(groups))
    constant = rng.normal(size=400)[groups]  # the same value in every row of an entity
    assert design_effect(constant, groups) == pytest.approx(weighted, rel=1e-6)
    assert design_effect(rng.normal(size=len(groups)), groups) < 1.3  # rows free inside an entity


def test_rows_with_no_entity_each_stand_alone_in_the_design_effect() -> None:
    """An entity column with missing ids (each such row its own unit, as everywhere else)."""
    rng = np.random.default_rng(3)
    who = rng.integers(0, 80, 3_000).astype(float)
    who[rng.random(3_000) < 0.1] = np.nan
    reference = pd.DataFrame({"x": rng.normal(size=3_000), "who": who, "y": 0})
    batch = pd.DataFrame({"x": rng.normal(size=600) + 1.0, "who": rng.integers(0, 80, 600), "y": 0})
    config = make_config(target="y", cluster_column="who", segments=[], key_segments=[])
    [result] = drift_report(reference, batch, ["x"], config)
    assert result.unit == "cluster"
    assert result.drifted


@pytest.mark.parametrize("seed", [0, 3])
def test_a_time_column_orders_the_reference_whatever_the_file_order(seed: int) -> None:
    """With `time_column` the reference's stretches follow time, not the file: the same rows with their
    times' groups in another file order (rows of one time keep theirs: time breaks no tie) get the same
    drift verdicts, natural bars and units."""
    world = make_world(seed, "time", rows=6_000)
    config = make_config(**world.config_overrides())
    in_time = drift_report(world.reference, world.batch, world.features, config)
    assert any(r.unit == "time block" for r in in_time)  # the world's rows are tied along time
    times = world.reference[config.time_column]
    rng = np.random.default_rng(seed)
    place = dict(zip(times.unique(), rng.permutation(times.nunique()), strict=True))
    file_order = np.lexsort((np.arange(len(times)), times.map(place).to_numpy()))
    scrambled = world.reference.iloc[file_order].reset_index(drop=True)
    assert not scrambled[config.time_column].is_monotonic_increasing
    in_any = drift_report(scrambled, world.batch, world.features, config)

    def verdicts(results: list) -> list:
        bar = [None if r.natural_psi is None else round(r.natural_psi, 9) for r in results]
        return [(r.feature, r.segment, r.unit, r.drifted, b) for r, b in zip(results, bar, strict=True)]

    assert verdicts(in_any) == verdicts(in_time)
