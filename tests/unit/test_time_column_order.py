"""With `time_column`, the data checks read the reference in time order, not in the file's: the same
rows written in another order (the reference's, and the batch's too; each time's rows keeping
theirs, so time breaks no tie differently) get the same findings, in the same units, on every
target kind, healthy or with a fault planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.checks import broken_feature_checks, label_checks_against_reference
from gatekeeper.data.drift import drift_report
from gatekeeper.data.segments import config_segments
from gatekeeper.data.slice_checks import slice_checks
from gatekeeper.vocabulary import Check
from tests.builders import make_config
from tests.worlds import make_world


def _in_another_order(frame: pd.DataFrame, time: str, seed: int) -> pd.DataFrame:
    """The rows with their times' groups in a random order, each group's rows in theirs."""
    times = frame[time]
    place = dict(zip(times.unique(), np.random.default_rng(seed).permutation(times.nunique()), strict=True))
    order = np.lexsort((np.arange(len(frame)), times.map(place).to_numpy()))
    moved = frame.iloc[order].reset_index(drop=True)
    assert not moved[time].is_monotonic_increasing
    return moved


def _plant(batch: pd.DataFrame, column: str, other: str, seed: int) -> pd.DataFrame:
    """`column` missing in the rows of one value of the category `other`, drawn by the seed."""
    faulty = batch.copy()
    value = np.random.default_rng(seed).choice(sorted(faulty[other].dropna().unique()))
    faulty.loc[faulty[other] == value, column] = np.nan
    return faulty


def _findings(reference: pd.DataFrame, batch: pd.DataFrame, features: list[str], config) -> list:
    broken = broken_feature_checks(reference, batch, features, config)
    configured = {name for name, _ in config_segments(batch, config)}
    checks: list[Check] = [
        *broken,
        *slice_checks(reference, batch, features, config, known=broken, configured=configured),
        *label_checks_against_reference(reference, batch, config),
    ]
    drift = [
        (r.feature, r.segment, r.unit, r.drifted, None if r.natural_psi is None else round(r.natural_psi, 9))
        for r in drift_report(reference, batch, features, config)
    ]
    return sorted((c.check, c.segment, c.effect, c.message) for c in checks) + drift


@pytest.mark.parametrize(
    ("seed", "target", "fault"),
    [(0, "binary", False), (1, "multiclass", True), (2, "regression", True), (5, "binary", True)],
    ids=["binary-healthy", "multiclass-fault", "regression-fault", "binary-fault"],
)
def test_findings_do_not_depend_on_the_reference_file_s_order(seed: int, target: str, fault: bool) -> None:
    world = make_world(seed, "time", target, rows=6_000)  # type: ignore[arg-type]
    config = make_config(**world.config_overrides())
    batch = world.batch
    if fault:
        column = world.names[("amount", "level", "rate")[seed % 3]]
        batch = _plant(batch, column, world.categories[seed % 3], seed)
    in_time = _findings(world.reference, batch, world.features, config)
    assert any(f[2] == "time block" for f in in_time if len(f) == 5)  # the rows are tied along time
    if fault:
        assert any(f[2] == "block" for f in in_time if len(f) == 4), in_time  # the fault is found
    moved = _in_another_order(world.reference, config.time_column, seed)
    assert _findings(moved, batch, world.features, config) == in_time
    both = _in_another_order(batch, config.time_column, seed + 1)
    assert _findings(moved, both, world.features, config) == in_time


def _champion_rows(world, train: pd.DataFrame, config):
    """The default pipeline fitted on `train`, as the gate fits one: each table's rows paired with its
    outputs."""
    from gatekeeper.stats.rows import PairedRows
    from gatekeeper.train.models import model_outputs
    from gatekeeper.train.pipeline import fit_candidate

    model = fit_candidate(config, train[world.features], train[world.target])
    if world.target_kind == "regression":
        return lambda f: PairedRows.regression(
            f[world.target].to_numpy(), model_outputs(model, f[world.features], []), None
        )
    classes = list(model.classes_)
    return lambda f: PairedRows.from_labels(
        f[world.target].to_numpy(), model_outputs(model, f[world.features], classes), None, classes
    )


def _wrong_labels(world, batch: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The labels of one category's rows made wrong: another class, or a value off by twice its spread."""
    faulty = batch.copy()
    column = world.categories[seed % 3]
    value = np.random.default_rng(seed).choice(sorted(faulty[column].dropna().unique()))
    rows = (faulty[column] == value).to_numpy()
    target = faulty[world.target]
    if world.target_kind == "regression":
        faulty.loc[rows, world.target] = target[rows] + 2 * target.std()
    else:
        classes = sorted(world.reference[world.target].unique(), key=str)
        shifted = {c: classes[(i + 1) % len(classes)] for i, c in enumerate(classes)}
        faulty.loc[rows, world.target] = target[rows].map(shifted)
    return faulty


@pytest.mark.parametrize(("seed", "target"), [(0, "binary"), (1, "multiclass"), (5, "regression")], ids=str)
def test_label_triage_does_not_depend_on_the_files_order(seed: int, target: str) -> None:
    from gatekeeper.triage.labels import label_checks
    from gatekeeper.triage.numeric_labels import numeric_label_checks

    world = make_world(seed, "time", target, rows=6_000)  # type: ignore[arg-type]
    config = make_config(**world.config_overrides())
    cut = int(len(world.reference) * 0.6)
    train, trusted = world.reference.iloc[:cut], world.reference.iloc[cut:].reset_index(drop=True)
    rows = _champion_rows(world, train, config)
    batch = _wrong_labels(world, world.batch, seed)

    def judged(batch: pd.DataFrame, trusted: pd.DataFrame) -> list:
        if target == "regression":
            checks = numeric_label_checks(batch, rows(batch), trusted, rows(trusted), config, world.features)
        else:
            checks, _ = label_checks(batch, rows(batch), trusted, rows(trusted), world.features, config)
        # the message names the most suspect rows by their place in the file: compared without it
        observed = [{k: v for k, v in c.observed.items() if k != "rows"} for c in checks]
        return sorted((c.check, c.segment, c.effect, repr(o)) for c, o in zip(checks, observed, strict=True))

    in_time = judged(batch, trusted)
    assert not any(check == "labels.not_judged" for check, *_ in in_time), in_time
    assert any(effect == "block" for _, _, effect, _ in in_time), in_time  # the wrong labels are found
    time = config.time_column
    moved = judged(_in_another_order(batch, time, seed), _in_another_order(trusted, time, seed + 1))
    assert moved == in_time


@pytest.mark.parametrize(("seed", "target"), [(0, "binary"), (1, "multiclass"), (5, "regression")], ids=str)
def test_with_entities_the_files_order_does_not_matter(seed: int, target: str) -> None:
    """With `cluster_column` the unit is the entity: rows in any file order, the same findings, and drift
    measured in entities. (Drift's natural bar is measured on stretches of whole entities in the order
    the file first shows them: without a time column the file's order stands for time, as it does for
    rows with no entity, so a shuffled file may move that bar and a drift verdict near it.)"""
    world = make_world(seed, "entities", target, rows=6_000)  # type: ignore[arg-type]
    config = make_config(**world.config_overrides())
    column = world.names[("amount", "level", "rate")[seed % 3]]
    batch = _plant(world.batch, column, world.categories[seed % 3], seed)

    def findings(reference: pd.DataFrame, batch: pd.DataFrame) -> list:
        broken = broken_feature_checks(reference, batch, world.features, config)
        configured = {name for name, _ in config_segments(batch, config)}
        checks = [
            *broken,
            *slice_checks(reference, batch, world.features, config, known=broken, configured=configured),
            *label_checks_against_reference(reference, batch, config),
        ]
        observed = [repr({k: v for k, v in c.observed.items() if k != "rows"}) for c in checks]
        drift = [
            (r.feature, r.segment, r.unit) for r in drift_report(reference, batch, world.features, config)
        ]
        return (
            sorted((c.check, c.segment, c.effect, o) for c, o in zip(checks, observed, strict=True)) + drift
        )

    as_written = findings(world.reference, batch)
    assert any(f[2] == "block" for f in as_written)  # the fault is found
    assert any(f[2] == "cluster" for f in as_written)  # counted in entities
    shuffled = findings(
        world.reference.sample(frac=1.0, random_state=seed).reset_index(drop=True),
        batch.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True),
    )
    assert shuffled == as_written
