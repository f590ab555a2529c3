"""The search of slices nobody configured: faults planted in random places of generated data are
found and named by their slice; healthy batches from the same world raise nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gatekeeper.data.slice_checks import slice_checks
from gatekeeper.data.slices import search
from gatekeeper.stats.inference import adjust
from gatekeeper.vocabulary import Check
from tests.builders import make_config
from tests.fuzzing import examples

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class World:
    """A cross-sectional population: categorical columns of random sizes and skews, continuous and
    few-valued numbers, a 0/1 target. Which columns are slices and which are features is random."""

    levels: dict[str, list[str]]
    shares: dict[str, np.ndarray]
    names: dict[str, str]  # role -> column name, so no test leans on one spelling

    @classmethod
    def make(cls, seed: int) -> World:
        rng = np.random.default_rng(seed)
        levels, shares = {}, {}
        for role in ("cat_a", "cat_b", "cat_c", "cat_d"):
            k = int(rng.integers(2, 7))
            levels[role] = [f"{role[-1]}{i}" for i in range(k)]
            shares[role] = rng.dirichlet(np.full(k, 3.0))
        words = ["source", "region", "plan", "channel", "amount", "age", "score", "visits", "tier", "y"]
        rng.shuffle(words[:9])
        roles = ["cat_a", "cat_b", "cat_c", "cat_d", "amount", "age", "score", "visits", "tier", "target"]
        return cls(levels, shares, dict(zip(roles, words, strict=True)))

    def sample(self, n: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        data: dict[str, object] = {}
        for role, values in self.levels.items():
            data[self.names[role]] = rng.choice(values, n, p=self.shares[role])
        data[self.names["amount"]] = np.round(rng.lognormal(3, 1, n), 2)
        data[self.names["age"]] = rng.normal(45, 12, n).clip(18, 95).round()
        data[self.names["score"]] = rng.uniform(0, 1, n)
        data[self.names["visits"]] = rng.poisson(3, n)
        data[self.names["tier"]] = rng.integers(1, 4, n)
        data[self.names["target"]] = rng.integers(0, 2, n)
        return pd.DataFrame(data)

    @property
    def target(self) -> str:
        return self.names["target"]

    def features(self) -> list[str]:
        return [c for c in self.names.values() if c != self.target]


def _config(world: World, configured: str) -> object:
    return make_config(target=world.target, segments=[configured], key_segments=[])


def _found(checks: list[Check], feature: str) -> list[Check]:
    return [c for c in checks if c.column == feature]


# ------------------------------------------------------------------ healthy data: no alarms


@pytest.mark.slow
def test_healthy_batches_from_the_same_world_raise_nothing() -> None:
    """Over 40 worlds (each with its own columns, levels and skews), a batch drawn from the same
    population as the reference never raises a slice finding."""
    alarms = []
    for seed in range(40):
        world = World.make(seed)
        config = _config(world, world.names["cat_a"])
        reference, batch = world.sample(8_000, seed * 2 + 1), world.sample(4_000, seed * 2 + 2)
        alarms += [c.message for c in slice_checks(reference, batch, world.features(), config)]
    assert alarms == []


@pytest.mark.slow
def test_drift_that_is_not_a_fault_raises_nothing() -> None:
    """The world moves on between windows: category shares change, a monthly indicator takes
    values the reference never had (in every row of the new month), a number's scale shifts.
    None of that is a feature broken in a slice."""
    alarms = []
    for seed in range(20):
        world = World.make(seed)
        moved = World(
            world.levels,
            {k: np.random.default_rng(seed).dirichlet(np.full(len(v), 2.0)) for k, v in world.shares.items()},
            world.names,
        )
        reference, batch = world.sample(8_000, seed + 1), moved.sample(4_000, seed + 2)
        rng = np.random.default_rng(seed)
        months = rng.choice([0, 1], len(reference)), rng.choice([1, 2], len(batch))
        for frame, month in zip((reference, batch), months, strict=True):
            frame["rate_indicator"] = np.choose(month, [1.1, 1.4, -0.2])
        amount = world.names["amount"]
        batch[amount] = batch[amount] * np.where(months[1] == 2, 1.3, 1.0)
        config = _config(world, world.names["cat_a"])
        features = [*world.features(), "rate_indicator"]
        alarms += [c.message for c in slice_checks(reference, batch, features, config)]
    assert alarms == []


def test_real_time_ordered_data_raises_nothing() -> None:
    """The bank-marketing example's training rows against its later new labels: real drift in
    monthly indicators and composition, no broken feature."""
    data = REPO / "examples/bank_marketing/data"
    reference = pd.read_csv(data / "train.csv.gz")
    batch = pd.read_csv(data / "new_labels.csv.gz")
    target = "y"
    config = make_config(target=target, segments=["job"], key_segments=[])
    features = [c for c in reference.columns if c != target]
    assert slice_checks(reference, batch, features, config) == []


# ------------------------------------------------------------------ planted faults: found, named


FAULTS = ["null", "sentinel", "zero", "new_category", "category_default"]


@pytest.mark.slow
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    fault=st.sampled_from(FAULTS),
    where=st.sampled_from(["value", "complement", "pair", "bin"]),
    data=st.data(),
)
def test_a_fault_planted_in_an_unconfigured_slice_is_found_and_named(
    seed: int, fault: str, where: str, data: st.DataObject
) -> None:
    world = World.make(seed)
    reference, batch = world.sample(8_000, seed + 1), world.sample(4_000, seed + 2)
    configured = world.names["cat_a"]  # the fault never sits there: nobody configured its slice
    cats = [world.names[r] for r in ("cat_b", "cat_c", "cat_d")]
    column = data.draw(st.sampled_from(cats), label="slice column")
    counts = batch[column].value_counts()
    value = data.draw(st.sampled_from(sorted(counts[counts >= 150].index)), label="slice value")
    if where == "value":
        names, slice_columns = {f"{column}={value}"}, {column}

        def select(frame: pd.DataFrame) -> pd.Series:
            return frame[column] == value

    elif where == "complement":
        if batch[column].nunique() <= 2 or (batch[column] != value).mean() > 0.7:
            return  # two values: "C != v" is the other value, planted as "value"
        names, slice_columns = {f"{column} != {value}"}, {column}

        def select(frame: pd.DataFrame) -> pd.Series:
            return frame[column] != value

    elif where == "pair":
        other = data.draw(st.sampled_from([c for c in cats if c != column]), label="second column")
        pairs = batch.groupby([column, other]).size()
        pairs = pairs[pairs >= 150]
        if not len(pairs):
            return
        v1, v2 = data.draw(st.sampled_from(sorted(pairs.index)), label="pair")
        names = {f"{column}={v1} & {other}={v2}", f"{other}={v2} & {column}={v1}"}
        slice_columns = {column, other}

        def select(frame: pd.DataFrame) -> pd.Series:
            return (frame[column] == v1) & (frame[other] == v2)

    else:  # the top quartile of a continuous column, cut where the reference's quantile falls
        column = world.names["score"]
        edge = float(np.quantile(reference[column], 0.75))
        names, slice_columns = {f"{column} >= {edge:.4g}"}, {column}

        def select(frame: pd.DataFrame) -> pd.Series:
            return frame[column] >= edge

    rows = select(batch)
    numbers = [world.names[r] for r in ("amount", "age", "visits")]
    categories = [c for c in cats if c not in slice_columns]
    if fault in ("sentinel", "zero") or (fault == "null" and data.draw(st.booleans(), label="numeric")):
        pool = [c for c in numbers if c not in slice_columns]
    else:
        pool = categories
    if not pool:
        return
    feature = data.draw(st.sampled_from(pool), label="feature")
    broken = batch.copy()
    if fault == "null":
        broken[feature] = broken[feature].astype(object if feature in categories else float)
        broken.loc[rows, feature] = np.nan
    elif fault == "sentinel":
        broken[feature] = broken[feature].astype(float)
        broken.loc[rows, feature] = -999.0
    elif fault == "zero":
        broken[feature] = broken[feature].astype(float)
        broken.loc[rows, feature] = 0.0
        if (reference[feature] == 0).mean() > 0.3:
            return  # zero was common already: not a fault the slice can show
    elif fault == "new_category":
        broken.loc[rows, feature] = "UNMAPPED"
    else:  # a labelling rule that fills a default: one of the feature's rarer values
        shares = reference.loc[select(reference), feature].value_counts(normalize=True)
        rare = sorted(shares[shares < 0.5].index)
        if where == "pair" or not rare:
            return  # categories all one value where two conditions meet are not claimed (sampling)
        broken.loc[rows, feature] = data.draw(st.sampled_from(rare), label="default")
    if rows.sum() < 100:
        return
    event(f"planted: {fault} where {where}")
    checks = slice_checks(reference, broken, world.features(), _config(world, configured))
    mine = _found(checks, feature)
    assert mine, f"{fault} in {feature} where {names} ({int(rows.sum())} rows) not found: {checks}"
    said = " ".join(c.message for c in mine)
    assert any(n in said for n in names), f"slice not named: {said}"
    assert all(c.effect == "block" and c.diagnosis == "broken_feature" for c in mine)
    assert not [c for c in checks if c.column != feature], "an unbroken feature was flagged"


# ------------------------------------------------------------------ naming and false alarms


def test_slices_that_are_the_same_rows_are_named_together() -> None:
    world = World.make(3)
    reference, batch = world.sample(8_000, 11), world.sample(4_000, 12)
    a, b = world.names["cat_b"], world.names["cat_c"]
    for frame in (reference, batch):  # "source=x" is exactly "legacy=yes": two names, one slice
        frame["legacy"] = np.where(frame[a] == world.levels["cat_b"][0], "yes", "no")
    amount = world.names["amount"]
    broken = batch.copy()
    broken.loc[broken["legacy"] == "yes", amount] = np.nan
    checks = _found(slice_checks(reference, broken, [*world.features(), "legacy"], _config(world, b)), amount)
    assert len(checks) == 1
    names = {f"{a}={world.levels['cat_b'][0]}", "legacy=yes"}
    assert checks[0].segment in names
    assert (names - {checks[0].segment}).pop() in checks[0].message


def test_a_fault_already_seen_overall_is_named_in_a_slice_only_where_it_concentrates() -> None:
    world = World.make(5)
    reference, batch = world.sample(8_000, 1), world.sample(4_000, 2)
    amount, column = world.names["amount"], world.names["cat_b"]
    broken = batch.copy()
    broken.loc[np.random.default_rng(0).random(len(batch)) < 0.3, amount] = np.nan  # everywhere
    overall = Check(
        "data.null_rate",
        "block",
        "amount missing",
        segment="overall",
        column=amount,
        observed={"reference": 0.0, "batch": 0.3},
    )
    config = _config(world, world.names["cat_a"])
    assert _found(slice_checks(reference, broken, world.features(), config, known=[overall]), amount) == []
    value = world.levels["cat_b"][0]
    broken.loc[broken[column] == value, amount] = np.nan  # and the whole of one slice
    found = _found(slice_checks(reference, broken, world.features(), config, known=[overall]), amount)
    assert [c.segment for c in found] == [f"{column}={value}"]


def test_the_search_controls_false_alarms_over_every_test_it_made() -> None:
    world = World.make(8)
    config = make_config(target=world.target, segments=[world.names["cat_a"]], key_segments=[])
    reference, batch = world.sample(8_000, 1), world.sample(4_000, 2)
    features = world.features()
    result = search(reference, batch, features, features, config.data_checks)
    assert result.tests > 1_000  # every feature in every slice and pair of slices
    assert result.findings == []


def test_adjust_counts_tests_that_were_not_listed() -> None:
    """Holm and BH over a search that lists only its candidates still divide by every test made."""
    assert adjust([0.001], "holm", family=100)[0] == pytest.approx(0.1)
    assert adjust([0.001, 0.02], "bh", family=10)[0] == pytest.approx(0.01)
    assert adjust([0.001], "holm")[0] == pytest.approx(0.001)
    assert adjust([0.01, 0.02], "holm", family=1) == adjust([0.01, 0.02], "holm")  # never fewer than listed


def test_search_off_in_config_finds_nothing() -> None:
    world = World.make(2)
    reference, batch = world.sample(8_000, 1), world.sample(4_000, 2)
    amount = world.names["amount"]
    batch.loc[batch[world.names["cat_b"]] == world.levels["cat_b"][0], amount] = np.nan
    config = make_config(
        target=world.target,
        segments=[world.names["cat_a"]],
        key_segments=[],
        data_checks={"search_slices": False},
    )
    assert slice_checks(reference, batch, world.features(), config) == []


# ------------------------------------------------------------------ labels in a slice


@pytest.mark.slow
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), pair=st.booleans(), label=st.sampled_from([0, 1]), data=st.data())
def test_labels_collapsed_in_an_unconfigured_slice_are_a_label_fault(
    seed: int, pair: bool, label: int, data: st.DataObject
) -> None:
    """A labelling rule that fills a default: every row of one slice gets one class. Blocked as
    `label_quality` naming the slice; no feature is blamed."""
    world = World.make(seed)
    reference, batch = world.sample(8_000, seed + 1), world.sample(4_000, seed + 2)
    cats = [world.names[r] for r in ("cat_b", "cat_c", "cat_d")]
    column = data.draw(st.sampled_from(cats), label="slice column")
    if pair:
        other = data.draw(st.sampled_from([c for c in cats if c != column]), label="second column")
        sizes = batch.groupby([column, other]).size()
        sizes = sizes[sizes >= 150]
        if not len(sizes):
            return
        v1, v2 = data.draw(st.sampled_from(sorted(sizes.index)), label="pair")
        rows = (batch[column] == v1) & (batch[other] == v2)
        names = {f"{column}={v1} & {other}={v2}", f"{other}={v2} & {column}={v1}"}
    else:
        counts = batch[column].value_counts()
        value = data.draw(st.sampled_from(sorted(counts[counts >= 150].index)), label="slice value")
        rows, names = batch[column] == value, {f"{column}={value}"}
    batch.loc[rows, world.target] = label
    checks = slice_checks(reference, batch, world.features(), _config(world, world.names["cat_a"]))
    blocking = [c for c in checks if c.effect == "block"]
    assert blocking, f"labels collapsed where {names} not found: {checks}"
    assert {c.diagnosis for c in blocking} == {"label_quality"}
    assert any(n in c.message for c in blocking for n in names)
    assert f"labels collapsed to {label!r}" in blocking[0].message


def test_a_label_share_that_moved_far_without_collapsing_is_a_warning() -> None:
    """Half the labels of a slice turned positive: a labelling fault there, or the world changed
    there. Said (a warning naming the slice), not blocked."""
    world = World.make(12)
    reference, batch = world.sample(8_000, 1), world.sample(4_000, 2)
    column, value = world.names["cat_b"], world.levels["cat_b"][0]
    rows = (batch[column] == value) & (np.random.default_rng(3).random(len(batch)) < 0.8)
    batch.loc[rows, world.target] = 1
    checks = slice_checks(reference, batch, world.features(), _config(world, world.names["cat_a"]))
    assert [(c.effect, c.segment) for c in checks] == [("warn", f"{column}={value}")]
    assert "the world changed there" in checks[0].message
