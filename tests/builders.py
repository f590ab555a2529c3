"""Shared test builders: configs, segment comparisons and evidence (no Prefect, no MLflow, no GX)."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from gatekeeper.config import GateConfig, parse_config
from gatekeeper.decide import Evidence
from gatekeeper.stats.bootstrap import PairedDelta, SegmentComparison


def make_config(**overrides: Any) -> GateConfig:
    raw: dict[str, Any] = {
        "model_name": "fraud-detector",
        "target": "is_fraud",
        "data": {
            "train": "/d/train.parquet",
            "new_labels": "/d/new.parquet",
            "evaluation": "/d/eval.parquet",
        },
        "expectations": {"train": "suite", "new_labels": "suite"},
        "segments": ["browser"],
        "key_segments": [{"where": {"browser": "chrome-beta"}, "max_regression": 0.0}],
        "primary_metric": "roc_auc",
        "min_improvement": 0.002,
        "min_segment_rows": 200,
    }
    raw.update(overrides)
    return parse_config(raw)


BETA = "browser=chrome-beta"


def seg(
    name: str,
    champion: float | None,
    candidate: float | None,
    n: int = 1000,
    metric: str = "roc_auc",
    reason: str | None = None,
    sd: float = 0.002,
) -> SegmentComparison:
    """A comparison whose bootstrap deltas are normal around the delta with standard deviation `sd`."""
    delta = None if champion is None or candidate is None or reason else candidate - champion
    where = dict(part.split("=") for part in name.split(" & ")) if name != "overall" else {}
    resamples = None
    if delta is not None:
        resamples = delta + sd * np.random.default_rng(zlib.crc32(name.encode())).standard_normal(2000)
    primary = PairedDelta(metric, n, candidate, champion, delta, reason, resamples, sd * np.sqrt(n))
    return SegmentComparison(name, where, primary)


def evidence(
    overall=(0.80, 0.82), beta=(0.80, 0.82, 500), champion_version="1", metric="roc_auc", checks=()
) -> Evidence:
    key = [] if beta is None else [seg(BETA, beta[0], beta[1], beta[2], metric)]
    return Evidence(
        model_name="fraud-detector",
        primary_metric=metric,
        champion_version=champion_version,
        candidate_version="2",
        overall=seg("overall", overall[0], overall[1], 20000, metric, sd=0.0005),
        segments=[seg("browser=chrome", 0.8, 0.83, 15000, metric), *key],
        key_segments=key,
        checks=list(checks),
    )
