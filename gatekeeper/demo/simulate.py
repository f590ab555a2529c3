"""Seeded transaction data for the demo, modelled on a fraud detector.

Transactions carry `browser`, `country`, `device`, amounts and a cookie-derived feature
(`cookie_age_days`). `browser=chrome-beta` is the small valuable segment (about 3% of traffic,
larger amounts, fraud driven mostly by fresh cookies). Each scenario writes the three tables of
a gate run; the evaluation window always follows the true relation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gatekeeper.demo import SCENARIOS

BROWSERS = ["chrome", "safari", "firefox", "edge", "chrome-beta"]
BROWSER_SHARE = [0.50, 0.25, 0.12, 0.10, 0.03]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN"]
COUNTRY_SHARE = [0.35, 0.15, 0.15, 0.12, 0.13, 0.10]
COUNTRY_RISK = {"US": 0.0, "GB": -0.2, "DE": -0.4, "FR": -0.1, "BR": 0.6, "IN": 0.4}
DEVICES = ["desktop", "mobile", "tablet"]
DEVICE_SHARE = [0.45, 0.45, 0.10]
KEY_BROWSER = "chrome-beta"
BROKEN_BROWSER = "safari"
NIGHTLY_LOADER_LAST_HOUR = 5  # the unconfigured-slice-fault scenario's broken hours: 0 to 5

SCENARIO_TRAINER = {"hurts-key-segment": "gatekeeper.demo.simulate:build_linear_model"}
# what a scenario's team states in its gate.yaml beyond the demo's defaults
SCENARIO_SETTINGS: dict[str, dict[str, object]] = {
    "no-retrain-needed": {"triage": {"retrain_cost": 0.02}},
    "gain-reverses-over-time": {"time_column": "event_time"},
    "sign-off": {"require_approval": True},
}
_WORLD = {
    "no-retrain-needed": "old",
    "more-data-pays": "old",
    "label-noise": "old",
    "drift-beyond-retraining": "noise",
}
_BATCH_ROWS = {"no-retrain-needed": 1_000}


def transactions(
    n: int,
    seed: int,
    *,
    start_id: int = 0,
    world: str = "old",
    with_beta: bool = True,
    flip_labels: dict[str, float] | None = None,
) -> pd.DataFrame:
    """`n` labelled transactions.

    world: `old` (what the first champion learned); `new` (fraudsters moved on: for everyone but
    chrome-beta, fresh cookies stopped signalling fraud and old accounts started to); `noise`
    (fraud no longer follows the features at all). chrome-beta keeps its relation in every world.
    with_beta=False leaves chrome-beta out (its labels have not arrived yet). flip_labels
    {country: share} mislabels that share of that country's rows (a labelling fault).
    """
    rng = np.random.default_rng(seed)
    shares = np.array(BROWSER_SHARE) if with_beta else np.array([*BROWSER_SHARE[:-1], 0.0])
    browser = rng.choice(BROWSERS, size=n, p=shares / shares.sum())
    country = rng.choice(COUNTRIES, size=n, p=COUNTRY_SHARE)
    device = rng.choice(DEVICES, size=n, p=DEVICE_SHARE)
    beta = browser == KEY_BROWSER
    amount = np.round(rng.lognormal(3.6, 1.0, size=n) * np.where(beta, 3.0, 1.0), 2)
    account_age = np.round(rng.exponential(400, size=n), 1)
    cookie_age = np.round(rng.exponential(60, size=n), 1)
    n_prev = rng.poisson(8, size=n)
    hour = rng.integers(0, 24, size=n)
    night = ((hour <= 5) | (hour >= 23)).astype(float)
    country_risk = np.vectorize(COUNTRY_RISK.get)(country)

    if world == "new":
        cookie_term = 0.9 * np.log1p(cookie_age / 30)
        account_term = 0.6 * np.log1p(account_age / 100)
    else:
        cookie_term = -0.5 * np.log1p(cookie_age / 30)
        account_term = -0.9 * np.log1p(account_age / 100)
    base = (
        -3.0
        + 0.45 * (np.log1p(amount) - 3.6)
        + account_term
        + cookie_term
        + 0.8 * night
        + country_risk
        + 0.3 * (device == "mobile")
        - 0.05 * n_prev
        + 0.5 * (amount > 300) * (account_age < 60)
    )
    if world == "new":
        base = base - 2.2  # keep the fraud rate near the old world's
    beta_logit = -1.2 + (2.2 - 1.6 * np.log1p(cookie_age / 5)) + 0.6 * night
    logit = np.where(beta, beta_logit, base)
    if world == "noise":
        logit = np.full(n, -3.9)
    fraud = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    for name, share in (flip_labels or {}).items():
        flip = (country == name) & (rng.random(n) < share)
        fraud = np.where(flip, ~fraud, fraud)
    return pd.DataFrame(
        {
            "transaction_id": np.arange(start_id, start_id + n),
            "amount": amount,
            "browser": browser,
            "country": country,
            "device": device,
            "account_age_days": account_age,
            "cookie_age_days": cookie_age,
            "n_prev_transactions": n_prev,
            "hour": hour,
            "is_fraud": fraud.astype(int),
        }
    )


@dataclass(frozen=True)
class ScenarioFiles:
    train: Path
    new_labels: Path
    evaluation: Path


def _write(frames: dict[str, pd.DataFrame], folder: Path) -> ScenarioFiles:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.parquet"
        frame.to_parquet(paths[name], index=False)
    return ScenarioFiles(**paths)


def base_training(seed: int = 7) -> pd.DataFrame:
    """What the bootstrap champion is trained on (base + first batch)."""
    return pd.concat(
        [transactions(3_000, seed), transactions(1_000, seed + 1, start_id=3_000)], ignore_index=True
    )


def evaluation_window(seed: int = 7, world: str = "old") -> pd.DataFrame:
    return transactions(20_000, seed + 100, start_id=1_000_000, world=world)


def write_bootstrap(folder: Path, seed: int = 7, scenario: str | None = None) -> ScenarioFiles:
    """Tables of the first run: no champion yet (a scenario with its own world: that world's)."""
    from gatekeeper.demo.worlds import WORLD_SCENARIOS, write_world_bootstrap

    if scenario in WORLD_SCENARIOS:
        return write_world_bootstrap(scenario, folder, seed)
    return _write(
        {
            "train": transactions(3_000, seed),
            "new_labels": transactions(1_000, seed + 1, start_id=3_000),
            "evaluation": evaluation_window(seed),
        },
        folder,
    )


def write_scenario(name: str, folder: Path, seed: int = 7) -> ScenarioFiles:
    """Tables of a run after the bootstrap; `train` is what the champion was trained on."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; expected one of {sorted(SCENARIOS)}")
    from gatekeeper.demo.worlds import WORLD_SCENARIOS, write_world_scenario

    if name in WORLD_SCENARIOS:
        return write_world_scenario(name, folder, seed)
    world = _WORLD.get(name, "new")
    flips = {"BR": 0.4} if name == "label-noise" else None
    batch = transactions(
        _BATCH_ROWS.get(name, 30_000), seed + 2, start_id=10_000, world=world, flip_labels=flips
    )
    if name == "broken-feature":
        batch.loc[batch["browser"] == BROKEN_BROWSER, "cookie_age_days"] = np.nan
    if name == "unconfigured-slice-fault":  # `hour` is in no configured segment
        batch.loc[batch["hour"] <= NIGHTLY_LOADER_LAST_HOUR, "account_age_days"] = 0.0
    evaluation = evaluation_window(seed, world)
    if name == "gain-reverses-over-time":  # the newest quarter of the window: the old pattern is back
        back = transactions(5_000, seed + 101, start_id=1_015_000, world="old")
        evaluation = pd.concat([evaluation.iloc[:15_000], back], ignore_index=True)
        days = np.sort(np.random.default_rng(seed + 102).integers(0, 90, 15_000))
        later = np.sort(np.random.default_rng(seed + 103).integers(90, 120, 5_000))
        evaluation["event_time"] = pd.Timestamp("2026-09-01") + pd.to_timedelta(np.r_[days, later], unit="D")
    if name == "small-segment-needs-data":
        beta = evaluation.index[evaluation["browser"] == KEY_BROWSER]
        evaluation = evaluation.drop(beta[120:]).reset_index(drop=True)
    return _write({"train": base_training(seed), "new_labels": batch, "evaluation": evaluation}, folder)


def build_linear_model(config: object) -> object:
    """A cheaper, global pipeline a team might switch to: one linear relation for everyone.

    Used by the `hurts-key-segment` scenario: it fits the new average well but cannot give the
    small chrome-beta segment its own, opposite relation between cookies and fraud.
    """
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("log", FunctionTransformer(np.log1p)),
            ("scale", StandardScaler()),
        ]
    )
    columns = ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include="number")),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_exclude="number"),
            ),
        ]
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=2000))])
