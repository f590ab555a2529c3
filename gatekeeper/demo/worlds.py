"""Two demo worlds whose rows are not independent, each with its own first champion.

- `natural-regimes`: the fraud transactions in time order (`event_time`), where fraud campaigns come
  and go by nature: a hidden regime that lasts days to weeks moves the fraud rate of each device and
  country on its own, and a published exchange rate (`fx_rate`) tracks time. Nothing is broken: a
  gate that counted each row as independent evidence blocks such batches (a slice of one short
  stretch of time looks "collapsed"); this one must not.
- `regression-label-fault`: basket values of six stores in time order; in the new batch one
  store's point-of-sale export reports values in another unit (halved). The features there are as
  before, so the champion's predictions are too, and the labels moved alone: blocked, named.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from gatekeeper.demo.simulate import ScenarioFiles, _write, transactions

STORES = ["S1", "S2", "S3", "S4", "S5", "S6"]
STORE_SHARE = [0.25, 0.2, 0.18, 0.15, 0.12, 0.1]
FAULTY_STORE = "S3"
CHANNELS = ["in-store", "web", "app"]
WORLD_SCENARIOS = ("natural-regimes", "regression-label-fault")


def lasting_regime(rows: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """A hidden state of the world along time: AR(1) with persistence `phi` (0: independent rows;
    0.99: it lasts ~100 rows) and unit variance, from its stationary start."""
    from scipy.signal import lfilter

    shocks = rng.normal(size=rows) * np.sqrt(1 - phi**2)
    shocks[0] = rng.normal()  # the first row: a draw of the stationary state itself
    return np.asarray(lfilter([1.0], [1.0, -phi], shocks))


def _regimes(rows: int, rng: np.random.Generator, stay: float, kinds: int) -> np.ndarray:
    switch = rng.random(rows) < 1 / stay
    return np.asarray(rng.permutation(kinds)[np.cumsum(switch) % kinds])


def campaign_transactions(rows: int, seed: int, start_id: int = 0) -> pd.DataFrame:
    """Transactions in time order under fraud campaigns that come and go (see the module docstring).

    One long stretch of time is simulated once (the seed fixes it) and cut: the first champion's
    tables, the scenario's training rows and its new labels are consecutive windows of it."""
    rng = np.random.default_rng(seed)
    frame = transactions(rows, seed + 1, start_id=start_id)
    regime = _regimes(rows, rng, stay=800, kinds=4)
    devices = pd.Index(["desktop", "mobile", "tablet"]).get_indexer(frame["device"])
    countries = pd.Index(["US", "GB", "DE", "FR", "BR", "IN"]).get_indexer(frame["country"])
    # a campaign: a device's and a country's fraud rate up or down by a lot, for as long as it lasts
    device_effect = rng.normal(0, 2.0, (4, 3))[regime, devices]
    country_effect = rng.normal(0, 1.5, (4, 6))[regime, countries]
    extra = np.where(frame["browser"] == "chrome-beta", 0.0, device_effect + country_effect)
    base = np.log(0.12 / 0.88)
    p = 1 / (1 + np.exp(-(base + extra + 0.8 * (frame["cookie_age_days"] < 10))))
    frame["is_fraud"] = (rng.random(rows) < p).astype(int)
    minutes = np.cumsum(rng.exponential(2.0, rows))
    frame["event_time"] = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.round(minutes), unit="min")
    stretch = np.cumsum(rng.random(rows) < 1 / 2_000)
    frame["fx_rate"] = np.round(1.1 + 0.02 * np.cumsum(rng.normal(0, 1, int(stretch[-1]) + 1))[stretch], 4)
    return frame


def basket_values(rows: int, seed: int, start_id: int = 0) -> pd.DataFrame:
    """Baskets of six stores in time order: value from items, visit minutes, channel and store, with
    a weekly rhythm and slow regimes in how much people buy."""
    rng = np.random.default_rng(seed)
    store = rng.choice(STORES, rows, p=STORE_SHARE)
    channel = rng.choice(CHANNELS, rows, p=[0.5, 0.3, 0.2])
    regime = _regimes(rows, rng, stay=2_000, kinds=3)
    mood = np.array([0.9, 1.0, 1.15])[regime]
    items = rng.poisson(6 * mood) + 1
    minutes = np.round(rng.gamma(3, 6, rows) * mood, 1)
    distance = np.round(rng.exponential(4, rows), 2)
    minute = np.cumsum(rng.exponential(3.0, rows))
    weekday = (minute // (24 * 60)) % 7
    store_level = dict(zip(STORES, [1.0, 1.1, 0.9, 1.3, 0.8, 1.05], strict=True))
    channel_level = {"in-store": 1.0, "web": 1.2, "app": 1.1}
    value = (
        8.5 * items * np.vectorize(store_level.get)(store) * np.vectorize(channel_level.get)(channel)
        + 0.6 * minutes
        + 4 * (weekday >= 5)
        - 0.3 * distance
    )
    value = value * rng.lognormal(0, 0.15, rows)
    return pd.DataFrame(
        {
            "basket_id": np.arange(start_id, start_id + rows),
            "store": store,
            "channel": channel,
            "items": items,
            "visit_minutes": minutes,
            "distance_km": distance,
            "weekday": weekday.astype(int),
            "event_time": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.round(minute), unit="min"),
            "basket_value": np.round(value, 2),
        }
    )


def _windows(frame: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    edges = np.cumsum([0, *sizes])
    return [frame.iloc[a:b].reset_index(drop=True) for a, b in pairwise(edges)]


WORLD_SEED = {"natural-regimes": 3}  # a stretch whose new week sits inside one exchange-rate period


def _stretch(scenario: str, seed: int) -> pd.DataFrame:
    make = campaign_transactions if scenario == "natural-regimes" else basket_values
    return make(60_000, WORLD_SEED.get(scenario, seed))


def write_world_bootstrap(scenario: str, folder: Path, seed: int = 7) -> ScenarioFiles:
    """The first run of a world: the earliest windows (training rows, first labels, evaluation)."""
    train, new_labels, evaluation = _windows(_stretch(scenario, seed), [12_000, 4_000, 8_000])
    return _write({"train": train, "new_labels": new_labels, "evaluation": evaluation}, folder)


def write_world_scenario(scenario: str, folder: Path, seed: int = 7) -> ScenarioFiles:
    """A later run: the champion's training rows, then a batch of new labels and evaluation rows from
    further on in time (with the scenario's fault, if it has one)."""
    stretch = _stretch(scenario, seed)
    train = pd.concat(_windows(stretch, [12_000, 4_000]), ignore_index=True)
    sizes = [24_000, 3_000, 12_000] if scenario == "natural-regimes" else [24_000, 16_000, 12_000]
    _, batch, evaluation = _windows(stretch, sizes)  # natural-regimes: a week's labels
    if scenario == "regression-label-fault":
        faulty = batch["store"] == FAULTY_STORE
        batch.loc[faulty, "basket_value"] = np.round(batch.loc[faulty, "basket_value"] / 2, 2)
    return _write({"train": train, "new_labels": batch, "evaluation": evaluation}, folder)


WORLD_SETTINGS: dict[str, dict[str, object]] = {
    "natural-regimes": {"time_column": "event_time"},
    "regression-label-fault": {
        "task": "regression",
        "target": "basket_value",
        "id_columns": ["basket_id"],
        "time_column": "event_time",
        "segments": ["store", "channel"],
        "key_segments": [],
        "primary_metric": "rmse",
        "secondary_metrics": ["mae"],
        "min_improvement": 0.0,
    },
}
WORLD_SUITES = {"regression-label-fault": "demo_baskets"}
