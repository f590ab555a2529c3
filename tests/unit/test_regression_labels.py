"""A number's labels judged as carefully as classes: a target scaled, shifted or written in other
units in one segment is a label fault (`labels.shift`, `label_quality`), found against the
champion's residuals where the features did not move; the world moving (features that move, a
level every segment shares) is not. Generated time-ordered, file-ordered and entity worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gatekeeper.stats.rows import PairedRows
from gatekeeper.triage.numeric_labels import numeric_label_checks
from tests.builders import make_config
from tests.fuzzing import examples

LAYOUTS = ("time", "order", "entities")


def world(seed: int, layout: str, rows: int = 6_000) -> tuple[pd.DataFrame, np.ndarray, dict[str, object]]:
    """Rows in time order with a wandering regime; the target is a function of the features plus
    noise and a regime-by-channel level no feature carries; `predicted` is a champion that learned
    the function of the features (with its own error)."""
    rng = np.random.default_rng(seed)
    regime = np.cumsum(rng.random(rows) < 1 / rng.uniform(30, 600)) % 3
    region = rng.choice(["north", "south", "east", "west"], rows, p=rng.dirichlet(np.full(4, 5.0)))
    channel = rng.choice(["web", "app", "phone"], rows, p=rng.dirichlet(np.full(3, 5.0)))  # not configured
    x1 = np.zeros(rows)
    phi = rng.uniform(0, 0.95)
    for i in range(1, rows):
        x1[i] = phi * x1[i - 1] + rng.normal() * np.sqrt(1 - phi**2)
    x1 += np.array([-0.5, 0.0, 0.7])[regime]
    x2 = rng.gamma(2.0, 1.0, rows)
    level = rng.uniform(50, 5_000)
    truth = level * (1 + 0.3 * x1 + 0.1 * x2 + 0.1 * (region == "north"))
    # residuals that are not independent: a regime moves each channel's level a little (by nature,
    # below triage.max_label_shift), so runs of rows share their residuals' level
    # (entities: each store its own level per channel; its rows are the unit the gate counts)
    channel_code = pd.factorize(pd.Series(channel), sort=True)[0]
    drift = rng.normal(0, 0.03, (3, 3))[regime, channel_code]
    noise = rng.normal(0, 0.08 * level, rows)
    y = truth * (1 + drift) + noise
    predicted = truth * (1 + rng.normal(0, 0.02, rows))
    frame = pd.DataFrame({"region": region, "channel": channel, "x1": x1, "x2": x2, "y": np.round(y, 3)})
    overrides: dict[str, object] = {
        "task": "regression",
        "primary_metric": "rmse",
        "target": "y",
        "segments": ["region"],
        "key_segments": [],
    }
    if layout == "time":
        frame["day"] = np.repeat(np.arange(rows), rng.integers(5, 40, rows))[:rows]
        overrides["time_column"] = "day"
    if layout == "entities":
        sizes = np.exp(rng.uniform(0, np.log(300), rows)).astype(int) + 1
        frame["store"] = np.repeat(np.arange(rows), sizes)[:rows]
        overrides["cluster_column"] = "store"
        drift = rng.normal(0, 0.03, (rows, 3))[frame["store"].to_numpy(), channel_code]
        frame["y"] = np.round(truth * (1 + drift) + noise, 3)
    return frame, predicted, overrides


def judge(frame: pd.DataFrame, predicted: np.ndarray, overrides: dict[str, object], split: int) -> list:
    config = make_config(**overrides)
    trusted, batch = frame.iloc[:split].reset_index(drop=True), frame.iloc[split:].reset_index(drop=True)
    rows = [
        PairedRows.regression(f["y"].to_numpy(), p, None)
        for f, p in ((trusted, predicted[:split]), (batch, predicted[split:]))
    ]
    return numeric_label_checks(batch, rows[1], trusted, rows[0], config, ["region", "channel", "x1", "x2"])


@pytest.mark.slow
@settings(max_examples=examples(60))
@given(
    seed=st.integers(0, 10_000),
    layout=st.sampled_from(LAYOUTS),
    fault=st.sampled_from(["halved", "shifted", "units", "none", "level", "world"]),
    data=st.data(),
)
def test_labels_moved_where_features_did_not_are_named_and_the_world_moving_is_not(
    seed: int, layout: str, fault: str, data: st.DataObject
) -> None:
    frame, predicted, overrides = world(seed, layout)
    split = int(len(frame) * data.draw(st.floats(0.55, 0.8), label="split"))
    # the fault in a configured segment, or in a slice nobody configured (a channel, a quartile of x2)
    where = data.draw(st.sampled_from(["region", "channel", "x2"]), label="where")
    later = np.arange(len(frame)) >= split
    if where == "x2":
        edges = np.quantile(frame["x2"].to_numpy()[:split], [0.25, 0.5, 0.75])
        k = data.draw(st.integers(0, 3), label="quartile")
        bounds = [-np.inf, *edges.tolist(), np.inf]
        segment = (
            f"x2 < {bounds[1]:.4g}"
            if k == 0
            else f"x2 >= {bounds[3]:.4g}"
            if k == 3
            else f"x2 in [{bounds[k]:.4g}, {bounds[k + 1]:.4g})"
        )  # as the slice search names them
        inside = ((frame["x2"] >= bounds[k]) & (frame["x2"] < bounds[k + 1])).to_numpy()
    else:
        value = data.draw(st.sampled_from(sorted(frame[where].unique())), label="value")
        segment, inside = f"{where}={value}", (frame[where] == value).to_numpy()
    rows = later & inside
    y = frame["y"].to_numpy().copy()
    sd = float(np.std(y[:split]))
    if fault == "halved":
        y[rows] = y[rows] / 2
    elif fault == "shifted":
        y[rows] = y[rows] + 2 * sd
    elif fault == "units":
        y[rows] = y[rows] * 1000
    elif fault == "level":  # the target grew everywhere and no feature carries it: the world, not labels
        y[later] = y[later] + 1.5 * sd
    elif fault == "world":  # the features moved in the segment, and the labels with them
        frame.loc[rows, "x1"] = frame.loc[rows, "x1"] + 2.0
        predicted = predicted.copy()
        predicted[rows] = predicted[rows] * (1 + 0.6)
        y[rows] = y[rows] * (1 + 0.6)
    frame["y"] = y
    if rows.sum() < 100:
        event("skipped: the segment has under 100 new rows")
        return
    found = judge(frame, predicted, overrides, split)
    event(f"{fault} in {layout}, {where}")
    if fault in ("halved", "shifted", "units"):
        assert [c.segment for c in found] == [segment], [c.message for c in found]
        assert found[0].diagnosis == "label_quality"
        assert found[0].effect == "block"
        assert ("found_by" in found[0].observed) == (where != "region")
    else:
        assert found == [], [c.message for c in found]


def test_a_champion_that_cannot_predict_does_not_vouch_for_labels() -> None:
    frame, predicted, overrides = world(1, "order")
    noise = np.random.default_rng(0).permutation(predicted)
    found = judge(frame, noise, overrides, 4_000)
    assert [c.check for c in found] == ["labels.not_judged"]
    assert "min_skill_r2" in found[0].message
