"""Drift where rows are tied by time, order or entity (`gatekeeper.data.drift`): flagged only beyond
the reference's own drift between stretches as long as the batch, with p-values counting independent
units; shuffled rows keep the row-level result; a feature in other units is still flagged."""

from __future__ import annotations

import pytest

from gatekeeper.data.drift import drift_report
from tests.builders import make_config
from tests.worlds import LAYOUTS, make_world
from tests.worlds import shuffled as shuffle

TARGETS = ("binary", "multiclass", "regression")


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
