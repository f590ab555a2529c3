from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.config import GateConfig, parse_config


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


@pytest.fixture
def config() -> GateConfig:
    return make_config()
