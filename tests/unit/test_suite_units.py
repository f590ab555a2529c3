"""GX `mostly` tolerances judged with rows counted in independent units (`gatekeeper.data.suite_units`),
on generated worlds whose rows are not independent (`tests/worlds.py`).

The suites' outcomes are computed here as GX computes them for the three row-wise kinds (not null,
between, in set; the integration tests run the real GX); the gate's judgement of each failure is the
real one (`suites.check_of`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.checks import broken_feature_checks
from gatekeeper.data.starter import learn_suite
from gatekeeper.data.suite_units import expectations_in_units, unexpected_rows
from gatekeeper.data.suites import Outcome, check_of
from gatekeeper.vocabulary import Check
from tests.builders import make_config
from tests.worlds import LAYOUTS, DependentWorld, make_world
from tests.worlds import shuffled as shuffle

# effect floors a quarter to a half of the defaults (a person asking for tight checks): room for noise to show
TIGHT = {"max_null_increase": 0.05, "max_out_of_range_increase": 0.05, "max_new_category_share": 0.05}


def outcomes(expectations: list[dict[str, Any]], frame: pd.DataFrame, world: DependentWorld) -> list[Check]:
    """The suite's row-wise expectations on `frame`, judged by the gate as a failure of GX's would be."""
    config = make_config(**world.config_overrides(), data_checks=TIGHT)
    out = []
    for e in expectations:
        kwargs = e["kwargs"]
        if "mostly" not in kwargs:
            continue
        hits = unexpected_rows(e["type"], kwargs, frame[kwargs["column"]])
        assert hits is not None
        counted = len(frame) if e["type"].endswith("not_be_null") else int((~np.isnan(hits)).sum())
        unexpected = int(np.nansum(hits))
        details = {
            "unexpected_count": unexpected,
            "element_count": len(frame),
            "missing_count": int(frame[kwargs["column"]].isna().sum()),
            "unexpected_percent": 100 * unexpected / max(counted, 1),
        }
        ok = unexpected <= (1 - kwargs["mostly"]) * counted
        outcome = Outcome(e["type"], kwargs, e.get("meta", {}), ok, details)
        out.append(check_of(outcome, "new_labels", "suite", config.data_checks, on_segment=False))
    return out


def judged(world: DependentWorld, batch: pd.DataFrame, expectations: list[dict[str, Any]]) -> list[Check]:
    config = make_config(**world.config_overrides(), data_checks=TIGHT)
    return expectations_in_units(outcomes(expectations, batch, world), world.reference, batch, config)


def starter(world: DependentWorld) -> list[dict[str, Any]]:
    # tolerances for samples as large as the batch: tight, as a person learning from a long
    # reference for large batches would get them
    return learn_suite(world.reference, "suite", target=world.target, min_rows=len(world.batch))[
        "expectations"
    ]


def plant_nulls(world: DependentWorld, seed: int) -> tuple[pd.DataFrame, str]:
    """From a random row in the batch's first half on, 90% of one feature's values missing."""
    rng = np.random.default_rng(seed)
    column = world.names[str(rng.choice(["sensor", "level", "cat_b", "amount"]))]
    batch = world.batch.copy()
    if pd.api.types.is_numeric_dtype(batch[column]):
        batch[column] = batch[column].astype(float)
    start = int(rng.integers(0, len(batch) // 2))
    rows = np.arange(start, len(batch))
    batch.loc[batch.index[rows[rng.random(len(rows)) < 0.9]], column] = np.nan
    return batch, column


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_starter_suite_does_not_block_healthy_batches_of_dependent_rows(layout: str) -> None:
    """0 blocks in 25 worlds per layout where rows are tied by time, order or entity (a sensor's null
    rate moves with the regime by nature); counted row by row, some are blocked."""
    row_level = blocked = 0
    for seed in range(25):
        world = make_world(seed, layout, rows=6_000)  # type: ignore[arg-type]
        expectations = starter(world)
        row_level += any(c.effect == "block" for c in outcomes(expectations, world.batch, world))
        found = [c for c in judged(world, world.batch, expectations) if c.effect == "block"]
        blocked += bool(found)
        assert not found, (seed, [c.message for c in found])
    assert blocked == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_feature_going_missing_in_dependent_rows_is_still_blocked_and_says_in_how_many_units(
    layout: str,
) -> None:
    """Blocked by the suite judged in units, or (where entities make the suite's evidence thin: the
    nulls fill only the batch's later entities) by the gate's own per-segment checks, which the flow
    runs beside every suite."""
    by_suite = 0
    for seed in range(12):
        world = make_world(seed, layout, rows=6_000)  # type: ignore[arg-type]
        batch, column = plant_nulls(world, seed)
        found = [
            c for c in judged(world, batch, starter(world)) if c.effect == "block" and c.column == column
        ]
        in_units = [c for c in found if "unit" in c.observed]  # rows whose nulls were dependent
        assert all(c.observed["units_showing"] >= 3 and "showing in" in c.message for c in in_units)
        by_suite += bool(found)
        if not found:
            config = make_config(**world.config_overrides())
            own = broken_feature_checks(world.reference, batch, world.features, config)
            assert any(c.effect == "block" and c.column == column for c in own), (seed, column)
    assert by_suite >= (6 if layout == "entities" else 11), by_suite


def test_a_burst_against_a_declared_tolerance_counts_once() -> None:
    """A person's `mostly` (no role): nulls in one short stretch of the batch are one piece of evidence
    (warned, saying why); the same share spread over the batch still blocks."""
    world = make_world(4, "time", rows=6_000)
    column = world.names["level"]
    declared = [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": column, "mostly": 0.9},
        }
    ]
    burst = world.batch.copy()
    burst.loc[burst.index[:300], column] = np.nan  # the first 300 rows (under one unit of time)
    spread = world.batch.copy()
    rng = np.random.default_rng(0)
    spread.loc[rng.random(len(spread)) < 300 / len(spread) + 0.05, column] = np.nan
    assert [c.effect for c in outcomes(declared, burst, world)] == ["block"]  # row by row: blocked
    [burst_check] = judged(world, burst, declared)
    assert burst_check.effect == "warn", burst_check.message
    assert "not blocking" in burst_check.message
    [spread_check] = judged(world, spread, declared)
    assert spread_check.effect == "block", spread_check.message


def test_shuffled_rows_and_unreadable_expectations_keep_their_row_level_judgement() -> None:
    world = make_world(2, "order", rows=6_000)
    shuffled = shuffle(world, seed=1)
    batch, _ = plant_nulls(shuffled, 3)
    expectations = starter(shuffled)
    assert judged(shuffled, batch, expectations) == outcomes(expectations, batch, shuffled)
    # a count that is not GX's (our reading of an expectation differs): GX's judgement stands
    [check] = [c for c in outcomes(expectations, batch, shuffled) if c.effect == "block"][:1]
    forged = replace(
        check, observed={**check.observed, "unexpected_count": check.observed["unexpected_count"] + 1}
    )
    config = make_config(**world.config_overrides(), data_checks=TIGHT)
    assert expectations_in_units([forged], world.reference, world.batch, config) == [forged]
