"""What one independent unit of evidence is (`gatekeeper.stats.units`): measured, not assumed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.checks import feature_profile
from gatekeeper.stats.in_units import unit_test
from gatekeeper.stats.units import Layout, block_length, find_units, layout_of


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_rows_are_their_own_units(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for signal in (rng.integers(0, 2, 20_000), rng.normal(size=5_000), rng.random(300) < 0.03):
        assert block_length(np.asarray(signal, dtype=float)) == 1


@pytest.mark.parametrize("phi", [0.5, 0.9, 0.98])
def test_an_ar_process_needs_units_as_long_as_its_memory(phi: float) -> None:
    rng = np.random.default_rng(1)
    x = np.zeros(20_000)
    for i in range(1, len(x)):
        x[i] = phi * x[i - 1] + rng.normal()
    tau = (1 + phi) / (1 - phi)  # the design effect of a mean of an AR(1)
    assert tau <= block_length(x) <= 8 * tau


@pytest.mark.parametrize("stay", [50, 500, 2_000])
def test_a_weak_regime_that_lasts_is_found_by_its_block_means(stay: int) -> None:
    """A rate moved by a few points for `stay` rows: each lag's correlation is below noise, their sum
    is not."""
    rng = np.random.default_rng(stay)
    rate = np.repeat(rng.uniform(0.05, 0.2, 40_000 // stay + 1), stay)[:40_000]
    signal = (rng.random(40_000) < rate).astype(float)
    assert block_length(signal) >= stay / 4


def test_time_blocks_never_split_a_time_step_and_follow_time_not_the_file() -> None:
    times = np.array([3, 1, 1, 2, 2, 2, 5, 4, 1], dtype=float)
    units = find_units(len(times), times=times, length=3)
    for t in np.unique(times):
        assert len(set(units.ids[times == t])) == 1
    order = np.argsort(times, kind="stable")
    assert np.all(np.diff(units.ids[order]) >= 0)  # earlier steps, earlier blocks
    assert units.kind == "time block"


def test_entities_are_units_and_a_row_without_one_stands_alone() -> None:
    units = find_units(5, clusters=np.array(["a", "b", "a", None, None], dtype=object))
    assert units.kind == "cluster"
    assert units.ids[0] == units.ids[2]
    assert len({units.ids[1], units.ids[3], units.ids[4]}) == 3


def test_a_time_column_of_text_dates_orders_the_rows_and_unparseable_ones_go_last() -> None:
    frame = pd.DataFrame({"when": ["2024-03-01", "2024-01-01", "not a date", "2024-02-01"]})
    layout = layout_of(frame, None, "when")
    assert layout.order is not None
    assert layout.order.tolist() == [1, 3, 0, 2]


def test_a_slice_as_high_as_the_reference_ever_was_is_not_beyond_its_natural_range() -> None:
    """The reference's slice swings between 10% and 65% by period; a batch at 65% is nature, a batch
    at 100% over many rows is not."""
    rng = np.random.default_rng(3)
    rate = np.repeat([0.1, 0.65, 0.1, 0.65, 0.1, 0.65], 500)
    reference = (rng.random(len(rate)) < rate).astype(float)
    ref_units = Layout(len(reference)).units(100)
    natural = (rng.random(600) < 0.65).astype(float)
    broken = np.ones(600)
    batch_units = Layout(600).units(100)
    assert unit_test(natural, batch_units, reference, ref_units).p_value > 0.01
    judged = unit_test(broken, batch_units, reference, ref_units)
    assert judged.p_value < 1e-12
    assert judged.units_showing == 6
    assert 0.55 < judged.natural_high < 0.9  # the highest window's lower bound (30 noisy rows)


def test_a_slice_that_was_all_of_one_class_for_a_while_may_be_so_again() -> None:
    """A regime in which the slice's labels are all of one class, seen for 60 rows in the reference:
    a batch that lives in that regime is not a collapse."""
    rng = np.random.default_rng(6)
    reference = (rng.random(3_000) < 0.3).astype(float)
    reference[1_200:1_260] = 1.0
    units = Layout(3_000).units(50)
    judged = unit_test(np.ones(400), Layout(400).units(50), reference, units)
    assert judged.p_value == 1.0


def test_entities_all_of_one_class_are_evidence_entity_by_entity() -> None:
    """Entities whose rates vary widely: one entity all of one class is nothing, 30 of them are."""
    rng = np.random.default_rng(4)
    sizes = rng.integers(5, 60, 200)
    entity = np.repeat(np.arange(200), sizes)
    propensity = rng.uniform(0.1, 0.9, 200)[entity]
    reference = (rng.random(len(entity)) < propensity).astype(float)
    ref_units = find_units(len(entity), clusters=entity)
    batch_entity = np.repeat(np.arange(30), 20)
    batch_units = find_units(600, clusters=batch_entity)
    healthy = (rng.random(600) < rng.uniform(0.1, 0.9, 30)[batch_entity]).astype(float)
    assert unit_test(healthy, batch_units, reference, ref_units).p_value > 0.01
    assert unit_test(np.ones(600), batch_units, reference, ref_units).p_value < 1e-6


def _entities(rng: np.random.Generator, count: int, rows: int, rate: float, spread: float) -> tuple:
    """`count` entities of `rows` rows each whose true rates spread around `rate` (beta; 0: none)."""
    rates = (
        rng.beta(rate * (1 / spread - 1), (1 - rate) * (1 / spread - 1), count)
        if spread
        else np.full(count, rate)
    )
    entity = np.repeat(np.arange(count), rows)
    return (rng.random(len(entity)) < rates[entity]).astype(float), find_units(len(entity), clusters=entity)


@pytest.mark.parametrize(
    ("reference", "batch", "rate", "spread"),
    [
        ((100, 60), (2000, 3), 0.2, 0.0),
        ((100, 60), (2000, 3), 0.5, 0.1),
        ((100, 60), (2000, 3), 0.2, 0.1),
        ((2000, 3), (100, 60), 0.3, 0.0),
        ((300, 5), (300, 5), 0.05, 0.0),
        ((60, 40), (400, 4), 0.3, 0.2),
    ],
)
def test_an_entity_s_size_sets_its_chance_of_looking_odd(reference, batch, rate, spread) -> None:
    """No fault, entities of other sizes than the reference's: a 3-row entity is all of one class
    far more often than a 60-row one, and the reference's rate and spread are only estimates. The
    rate of p < 0.01 over 60 healthy batches stays near 1% (it was 8-40% counting a share of the
    reference's entities); a tenth of the batch's entities (20 or more) all ones are still found."""
    rng = np.random.default_rng(sum(reference) + sum(batch))
    flagged, found = 0, 0
    for _ in range(60):
        ref_hits, ref_units = _entities(rng, *reference, rate, spread)
        hits, units = _entities(rng, *batch, rate, spread)
        flagged += unit_test(hits, units, ref_hits, ref_units, whole_reference=ref_hits).p_value < 0.01
        broken = rng.choice(units.count, max(20, units.count // 10), replace=False)
        hits[np.isin(units.ids, broken)] = 1.0
        found += unit_test(hits, units, ref_hits, ref_units, whole_reference=ref_hits).p_value < 0.01
    assert flagged <= 3, f"{flagged} of 60 healthy batches flagged"
    assert found >= 45, f"a tenth of the entities (20 or more) all ones found in {found} of 60"


@pytest.mark.parametrize("seed", range(4))
def test_a_sentinel_below_a_never_negative_wide_tailed_feature_is_out_of_range(seed: int) -> None:
    """The deep fuzz profile found -999 in a non-negative, wide-tailed feature inside the symmetric
    margin; a number never below zero has no room below zero."""
    rng = np.random.default_rng(seed)
    values = pd.Series(np.round(rng.lognormal(rng.uniform(2, 7), rng.uniform(0.5, 2.5), 5_000)))
    profile = feature_profile(values, range_margin=1.0)
    assert profile.low is not None
    assert profile.low > -999
    assert profile.low <= values.min()


def test_a_number_that_travels_in_time_order_gets_room_to_travel_shuffled_it_does_not() -> None:
    rng = np.random.default_rng(5)
    trend = pd.Series(np.linspace(1, 4, 4_000) + rng.normal(0, 0.05, 4_000))
    ordered = feature_profile(trend, 0.0, np.arange(len(trend)))
    shuffled = trend.sample(frac=1.0, random_state=0).reset_index(drop=True)
    flat = feature_profile(shuffled, 0.0, np.arange(len(trend)))
    assert ordered.high is not None
    assert flat.high is not None
    assert ordered.high >= flat.high + 2.0  # two halves' travel (about 1.5 each)
