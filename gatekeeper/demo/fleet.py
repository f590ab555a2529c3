"""Generated fleets: many small models' worlds, each with a fault of a known kind (tests, benchmarks).

Each model's world is a logistic relation over six numbers `x0..x5` and two categories (`region`,
and `tier`, whose `gold` rows are a small key segment). Its training data follow the old relation, a
healthy labelled batch its first champion learns from too, then the batch it is gated on, by kind:

- `shifted`:  the relation changed; the batch and the evaluation rows follow the new one (promote);
- `key-hurt`: as shifted, but the batch's `tier=gold` rows follow a wrong relation while the
  evaluation's follow the old one: better on average, worse on the key segment (reject);
- `broken`:   as shifted, but `x3` is null in every batch row of `region=r1` (blocked);
- `steady`:   nothing changed (not retrained, or no gain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

KINDS = ("shifted", "key-hurt", "broken", "steady")
TABLES = ("train", "boot", "batch", "evaluation")
SUITE: dict[str, Any] = {
    "name": "fleet_world",
    "expectations": [
        *({"type": "expect_column_to_exist", "kwargs": {"column": f"x{i}"}} for i in range(6)),
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "y", "value_set": [0, 1]}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "y"}},
    ],
    "meta": {"about": "gatekeeper.demo.fleet: the generated fleets' suite"},
}


def gate_keys(suites: Path) -> dict[str, Any]:
    """The gate keys every generated model shares (its tables named by the caller)."""
    return {
        "target": "y",
        "expectations": {"directory": str(suites), "train": "fleet_world", "new_labels": "fleet_world"},
        "segments": ["region", "tier"],
        "key_segments": [{"where": {"tier": "gold"}, "max_regression": 0.0}],
        "primary_metric": "roc_auc",
        "min_improvement": 0.002,
        "min_segment_rows": 200,
    }


def world(rng: np.random.Generator, n: int, weights: np.ndarray, gold: np.ndarray | None) -> pd.DataFrame:
    """`n` rows of a world whose labels follow `weights` (and `gold` in the `tier=gold` rows)."""
    x = rng.normal(size=(n, 6))
    region = rng.choice(["r0", "r1", "r2", "r3"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    tier = rng.choice(["basic", "plus", "gold"], size=n, p=[0.6, 0.3, 0.1])
    offset = pd.Series(region).map({"r0": 0.0, "r1": 0.4, "r2": -0.3, "r3": 0.2}).to_numpy()
    logit = x @ weights + offset - 1.0
    if gold is not None:
        rows = tier == "gold"
        logit[rows] = x[rows] @ gold + offset[rows] - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    frame["region"], frame["tier"], frame["y"] = region, tier, y
    return frame


def model_tables(kind: str, rows: int, seed: int) -> dict[str, pd.DataFrame]:
    """A model's four tables (train, boot, batch, evaluation) for a fault `kind` of KINDS."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    rng = np.random.default_rng(seed)
    old = rng.normal(0, 1.0, 6)
    new = old.copy() if kind == "steady" else old + rng.normal(0, 1.2, 6)
    batch = world(rng, rows, new, -old * 1.5 if kind == "key-hurt" else None)
    if kind == "broken":
        batch.loc[batch["region"] == "r1", "x3"] = np.nan
    return {
        "train": world(rng, rows, old, None),
        "boot": world(rng, max(2_000, rows // 5), old, None),
        "batch": batch,
        "evaluation": world(rng, max(4_000, rows // 2), new, old if kind == "key-hurt" else None),
    }


@dataclass(frozen=True)
class FleetModel:
    name: str
    kind: str
    rows: int
    gate: Path  # gate.yaml (the batch)
    boot: Path  # boot.yaml (the healthy batch: the first champion)


def write_listed_fleet(root: Path, models: int, seed: int, min_rows: int, max_rows: int) -> list[FleetModel]:
    """`models` models, each its own tables and configs under `root/models/<name>/` (rows log-uniform
    in [min_rows, max_rows], kinds in turn), and the suite under `root/expectations`."""
    import json

    import yaml

    suites = root / "expectations"
    suites.mkdir(parents=True, exist_ok=True)
    (suites / "fleet_world.json").write_text(json.dumps(SUITE, indent=2))
    rng = np.random.default_rng(seed)
    sizes = np.exp(rng.uniform(np.log(min_rows), np.log(max_rows), models)).astype(int)
    out = []
    for i in range(models):
        kind = KINDS[i % len(KINDS)]
        name = f"fleet-{i:03d}-{kind}"
        folder = root / "models" / name
        folder.mkdir(parents=True, exist_ok=True)
        for table, frame in model_tables(kind, int(sizes[i]), seed * 1_000 + i).items():
            frame.to_parquet(folder / f"{table}.parquet", index=False)
        gate = {"model_name": name, **gate_keys(suites)}
        gate["data"] = {
            "train": "train.parquet",
            "new_labels": "batch.parquet",
            "evaluation": "evaluation.parquet",
        }
        boot = {**gate, "data": {**gate["data"], "new_labels": "boot.parquet"}}
        (folder / "gate.yaml").write_text(yaml.safe_dump(gate, sort_keys=False))
        (folder / "boot.yaml").write_text(yaml.safe_dump(boot, sort_keys=False))
        out.append(FleetModel(name, kind, int(sizes[i]), folder / "gate.yaml", folder / "boot.yaml"))
    return out


def write_market_tables(folder: Path, kinds: dict[str, str], rows: int, seed: int) -> dict[str, Path]:
    """One set of tables for a fleet of one model per `market`: each market's rows its own world
    with the fault `kinds[market]`; the suite beside them. Returns the four tables' paths."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fleet_world.json").write_text(json.dumps(SUITE, indent=2))
    parts: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    for i, (market, kind) in enumerate(sorted(kinds.items())):
        for table, frame in model_tables(kind, rows, seed * 1_000 + i).items():
            parts[table].append(frame.assign(market=market))
    paths = {}
    for table, frames in parts.items():
        paths[table] = folder / f"{table}.parquet"
        pd.concat(frames, ignore_index=True).to_parquet(paths[table], index=False)
    return paths
