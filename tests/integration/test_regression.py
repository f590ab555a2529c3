"""A regressor through the real flow: RMSE with paired intervals, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gatekeeper.config import parse_config
from tests.integration.helpers import aliases, run_gate


def _houses(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 200, n).round(1)
    district = rng.choice(["old-town", "harbour", "hills", "suburb"], n, p=[0.2, 0.2, 0.1, 0.5])
    premium = (
        pd.Series(district).map({"old-town": 1.4, "harbour": 1.2, "hills": 1.6, "suburb": 1.0}).to_numpy()
    )
    price = 2.5 * area * premium + 30 * np.sin(area / 15) + rng.normal(0, 20, n)
    return pd.DataFrame({"area": area, "district": district, "price": price.round(2)})


def test_regressor_is_gated_with_rmse_intervals(tmp_path: Path) -> None:
    suite = {
        "name": "houses",
        "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}}
            for c in ("area", "district", "price")
        ]
        + [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "area", "min_value": 0, "max_value": 1000},
            }
        ],
    }
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "houses.json").write_text(json.dumps(suite))
    tables = {
        "train": _houses(300, 1),
        "small": _houses(100, 2),
        "big": _houses(8000, 3),
        "eval": _houses(6000, 4),
    }
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)

    def config(new_labels: str):
        return parse_config(
            {
                "model_name": "house-prices",
                "task": "regression",
                "target": "price",
                "data": {
                    "train": str(tmp_path / "train.parquet"),
                    "new_labels": str(tmp_path / f"{new_labels}.parquet"),
                    "evaluation": str(tmp_path / "eval.parquet"),
                },
                "expectations": {
                    "directory": str(tmp_path / "suites"),
                    "train": "houses",
                    "new_labels": "houses",
                },
                "segments": ["district"],
                "key_segments": [{"where": {"district": "hills"}, "max_regression": 5.0}],
                "secondary_metrics": ["mae", "r2"],
                "triage": {"force_retrain": True},  # same world, more data: gate it even without degradation
                "workdir": str(tmp_path / "wd"),
            }
        )

    first = run_gate(config("small"))
    assert first["decision"] == "bootstrap"
    assert first["primary_metric"] == "rmse"
    second = run_gate(config("big"))  # 8,000 more rows: a much better fit of the curve
    assert second["primary_metric"] == "rmse"
    assert second["overall"]["delta"] < 0, "lower RMSE is better"
    assert second["overall"]["ci_low"] <= second["overall"]["delta"] <= second["overall"]["ci_high"]
    assert second["decision"] == "promoted", second["reasons"]
    assert aliases(config("big")) == {"champion": "2", "previous-champion": "1"}
    hills = next(s for s in second["segments"] if s["segment"] == "district=hills")
    assert hills["key"] is True
    assert {"mae", "r2"} <= set(hills["secondary"])
