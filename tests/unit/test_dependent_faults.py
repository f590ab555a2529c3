"""Faults planted in dependent worlds (`tests/worlds.py`) are found and named, with the evidence
counted in independent units: labels collapsed to one class in a slice, a feature nulled there, a
sentinel written there, in time-ordered, file-ordered and entity worlds, for every target kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gatekeeper.data.checks import broken_feature_checks
from gatekeeper.data.slice_checks import slice_checks
from tests.builders import make_config
from tests.fuzzing import examples
from tests.worlds import LAYOUTS, make_world


def longest_run(world, column: str, value: object, feature: str, label: object) -> int:  # type: ignore[no-untyped-def]
    """The longest run of the slice's reference rows (in time, else file order) all of `label`."""
    reference = world.reference
    if world.layout == "time":
        reference = reference.sort_values(world.names["time"], kind="stable")
    same = (reference.loc[reference[column] == value, feature] == label).to_numpy()
    best = run = 0
    for hit in same:
        run = run + 1 if hit else 0
        best = max(best, run)
    return best


@pytest.mark.slow
@settings(max_examples=examples(60))
@given(
    seed=st.integers(0, 10_000),
    layout=st.sampled_from(LAYOUTS),
    target=st.sampled_from(["binary", "multiclass", "regression"]),
    fault=st.sampled_from(["collapse", "null", "sentinel"]),
    data=st.data(),
)
def test_a_fault_planted_in_a_slice_of_dependent_rows_is_found_and_named(
    seed: int, layout: str, target: str, fault: str, data: st.DataObject
) -> None:
    world = make_world(seed, layout, target)  # type: ignore[arg-type]
    if fault == "collapse" and target == "regression":  # a number's labels: other units, or a fill value
        fault = data.draw(st.sampled_from(["units", "fill"]), label="number's label fault")
    column = data.draw(st.sampled_from(world.categories[1:]), label="slice column")
    counts = world.batch[column].value_counts()
    values = sorted(counts[counts >= 150].index)
    if not values:
        event("skipped: no value of the column with 150 rows in the batch")
        return
    value = data.draw(st.sampled_from(values), label="slice value")
    rows = (world.batch[column] == value).to_numpy()
    batch = world.batch.copy()
    if fault == "collapse":
        feature = world.target
        label = data.draw(st.sampled_from(sorted(world.reference[feature].unique(), key=str)), label="class")
        share = float((world.reference.loc[world.reference[column] == value, feature] == label).mean())
        moved = np.pi - 2 * np.arcsin(np.sqrt(share))  # Cohen's h of the collapse to 100%
        if moved < make_config(**world.config_overrides()).data_checks.label_slice_h:
            event("skipped: a collapse below the configured effect floor (label_slice_h)")
            return  # a class the slice already nearly always has: too small a move to call
        if longest_run(world, column, value, feature, label) >= rows.sum():
            event("skipped: the slice held the class that long by nature")
            return  # the reference did exactly this for a while: not a fault the gate may call
        batch.loc[rows, feature] = label
    elif fault in ("units", "fill"):
        feature = world.target
        y = batch[feature].to_numpy(dtype=float).copy()
        y[rows] = y[rows] * 1000 if fault == "units" else float(np.median(y))
        batch[feature] = y
    elif fault == "null":
        pool = [f for f in world.features if f not in (column, world.names["cat_a"])]
        feature = data.draw(st.sampled_from(pool), label="feature")
        if pd.api.types.is_numeric_dtype(batch[feature]):
            batch[feature] = batch[feature].astype(float)
        batch.loc[rows, feature] = np.nan
    else:
        feature = data.draw(st.sampled_from(world.numbers), label="feature")
        batch[feature] = batch[feature].astype(float)
        batch.loc[rows, feature] = -999.0
    config = make_config(**world.config_overrides())
    found = slice_checks(world.reference, batch, world.features, config)
    found += broken_feature_checks(world.reference, batch, world.features, config)
    named = [c for c in found if c.effect == "block" and c.column == feature]
    if feature == world.target:
        assert all(c.diagnosis == "label_quality" for c in named), [c.message for c in named]
    event(f"planted: {fault} in {layout}")
    assert named, f"{fault} of {feature} where {column}={value}: {[c.message for c in found]}"
    # named by the slice, or by a slice inside it (a narrower slice that holds the whole fault)
    assert any(f"{column}={value}" in (c.segment or "") for c in named), [c.message for c in named]
    if layout != "order":  # with a time or entity column, the finding says how many units hold it
        in_slices = [c for c in named if isinstance(c.observed, dict) and c.observed.get("found_by")]
        assert all(c.observed["units_showing"] >= 3 for c in in_slices), [c.observed for c in in_slices]
