"""Generated worlds whose rows are not independent, for the checks that count evidence.

A world is a stretch of rows in time (or file) order, split into the reference (the earlier rows)
and the batch (the rows after). A hidden regime (a Markov chain that stays put for tens to
thousands of rows) moves, together, the labels' rate in each slice, the shares of categories, the
level of numeric features (AR(1) around the regime's mean) and a feature's null rate. Layouts:
`time` (a time column, a varying number of rows per step), `order` (file order only) and
`entities` (a cluster column: entities of 1-500 rows, each with its own propensity, rows together).
Targets: binary or multi-class labels, or a number. Nothing here is a fault; `plant` adds one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

Layout = Literal["time", "order", "entities"]
Target = Literal["binary", "multiclass", "regression"]
LAYOUTS: tuple[Layout, ...] = ("time", "order", "entities")
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}


@dataclass(frozen=True)
class DependentWorld:
    seed: int
    layout: Layout
    target_kind: Target
    names: dict[str, str]  # role -> column name (no test leans on one spelling)
    reference: pd.DataFrame
    batch: pd.DataFrame

    @property
    def target(self) -> str:
        return self.names["target"]

    @property
    def features(self) -> list[str]:
        return [
            self.names[r] for r in ("cat_a", "cat_b", "cat_c", "amount", "level", "sensor", "count", "rate")
        ]

    @property
    def categories(self) -> list[str]:
        return [self.names[r] for r in ("cat_a", "cat_b", "cat_c")]

    @property
    def numbers(self) -> list[str]:
        return [self.names[r] for r in ("amount", "level", "count", "rate")]

    def config_overrides(self) -> dict[str, object]:
        out: dict[str, object] = {
            "target": self.target,
            "segments": [self.names["cat_a"]],
            "key_segments": [],
            "task": "regression" if self.target_kind == "regression" else "classification",
            "primary_metric": {"regression": "rmse", "multiclass": "accuracy"}.get(
                self.target_kind, "roc_auc"
            ),
        }
        if self.layout == "time":
            out["time_column"] = self.names["time"]
        if self.layout == "entities":
            out["cluster_column"] = self.names["entity"]
        return out


def make_world(
    seed: int,
    layout: Layout,
    target_kind: Target = "binary",
    rows: int = 12_000,
    batch_share: float | None = None,
) -> DependentWorld:
    rng = np.random.default_rng(seed)
    words = [
        "source",
        "region",
        "plan",
        "amount",
        "level",
        "sensor",
        "visits",
        "rate",
        "outcome",
        "when",
        "who",
    ]
    order = rng.permutation(8)
    roles = ["cat_a", "cat_b", "cat_c", "amount", "level", "sensor", "count", "rate"]
    names = {r: words[i] for r, i in zip(roles, order, strict=True)}
    names |= {"target": "outcome", "time": "when", "entity": "who"}

    # the hidden regime: a Markov chain whose stays last `persist` rows on average; regimes recur,
    # so the batch's world is one the reference has lived in (natural movement, not a new world)
    share = batch_share if batch_share is not None else float(rng.uniform(0.15, 0.4))
    split = int(rows * (1 - share))
    regimes = int(rng.integers(2, 5))
    persist = float(np.exp(rng.uniform(np.log(30), np.log(split / (3 * regimes)))))
    for _ in range(100):
        switch = rng.random(rows) < 1 / persist
        regime = rng.permutation(regimes)[np.cumsum(switch) % regimes]
        seen = np.bincount(regime[:split], minlength=regimes)
        if np.all(seen[np.unique(regime[split:])] >= 100):
            break
    data: dict[str, object] = {}
    levels = {}
    for role in ("cat_a", "cat_b", "cat_c"):
        k = int(rng.integers(2, 6))
        levels[role] = [f"{role[-1]}{i}" for i in range(k)]
        shares = rng.dirichlet(np.full(k, 4.0), size=regimes)  # composition moves with the regime
        cum = shares[regime].cumsum(axis=1)
        codes = (rng.random(rows)[:, None] > cum).sum(axis=1)
        data[names[role]] = np.array(levels[role])[np.minimum(codes, k - 1)]
    # numbers: AR(1) around a regime mean
    phi = rng.uniform(0.0, 0.98)
    shock = rng.normal(size=rows)
    ar = np.zeros(rows)
    for i in range(1, rows):
        ar[i] = phi * ar[i - 1] + shock[i]
    ar *= np.sqrt(1 - phi**2)
    means = rng.normal(0, 0.6, regimes)
    data[names["level"]] = 50 + 10 * (means[regime] + ar)
    data[names["amount"]] = np.round(np.exp(3 + 0.5 * means[regime] + rng.normal(0, 0.8, rows)), 2)
    data[names["count"]] = rng.poisson(np.exp(1 + 0.3 * means[regime]))
    sensor = rng.normal(0, 1, rows) + means[regime]
    null_rate = rng.uniform(0, 0.5, regimes)  # a sensor missing more in some regimes, by nature
    sensor[rng.random(rows) < null_rate[regime]] = np.nan
    data[names["sensor"]] = sensor
    # a published rate: one value per regime stretch plus a slow trend (a proxy for time itself)
    stretch = np.cumsum(switch)
    data[names["rate"]] = np.round(
        rng.normal(3, 1, int(stretch[-1]) + 1)[stretch] + np.arange(rows) / rows, 3
    )

    # the labels: a slice-by-regime interaction moves each slice's rate on its own
    slice_col = names["cat_b"]
    slice_codes = pd.factorize(pd.Series(data[slice_col]))[0]
    interaction = rng.normal(0, rng.uniform(0.5, 3.5), (regimes, len(levels["cat_b"])))
    signal = 0.8 * (np.asarray(data[names["level"]]) - 50) / 10 + interaction[regime, slice_codes]

    entity = None
    if layout == "entities":
        sizes: list[int] = []
        while sum(sizes) < rows:
            sizes.append(int(np.exp(rng.uniform(0, np.log(500)))))
        entity = np.repeat(np.arange(len(sizes)), sizes)[:rows]
        signal = signal + rng.normal(0, 1.5, len(sizes))[entity]  # each entity its own propensity

    if target_kind == "regression":
        data[names["target"]] = np.round(100 + 15 * signal + rng.normal(0, 8, rows), 3)
    elif target_kind == "binary":
        data[names["target"]] = (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(int)
    else:
        cuts = np.sort(rng.normal(0, 1, 2))
        noisy = signal + rng.logistic(0, 1, rows)
        data[names["target"]] = np.array(["low", "mid", "high"])[np.searchsorted(cuts, noisy)]

    frame = pd.DataFrame(data)
    if layout == "time":
        per_step = rng.integers(5, 80, rows)
        step = np.repeat(np.arange(rows), per_step)[:rows]
        frame[names["time"]] = pd.Timestamp("2024-01-01") + pd.to_timedelta(step, unit="D")
    if entity is not None:
        frame[names["entity"]] = [f"e{e}" for e in entity]
    return DependentWorld(
        seed,
        layout,
        target_kind,
        names,
        frame.iloc[:split].reset_index(drop=True),
        frame.iloc[split:].reset_index(drop=True),
    )


def shuffled(world: DependentWorld, seed: int = 0) -> DependentWorld:
    """The same world with each table's rows in random order: nothing ties neighbouring rows."""
    return DependentWorld(
        world.seed,
        world.layout,
        world.target_kind,
        world.names,
        world.reference.sample(frac=1.0, random_state=seed).reset_index(drop=True),
        world.batch.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True),
    )
