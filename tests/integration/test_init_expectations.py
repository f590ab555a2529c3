"""`gatekeeper init-expectations` on data it has never seen, checked with real GX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cli import main
from gatekeeper.data.suites import run_suite


def _never_seen(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "order_id": np.arange(n) + seed * 100_000,
            "basket_eur": rng.gamma(2.0, 30.0, n).round(2),
            "items": rng.integers(1, 12, n),
            "channel": rng.choice(["web", "app", "store"], n),
            "loyalty": rng.choice([True, False], n),
            "coupon": np.where(rng.random(n) < 0.05, None, rng.choice(["A", "B"], n)),
            "churned": rng.integers(0, 2, n),
        }
    )


def test_learned_suite_passes_its_reference_and_catches_breakage(tmp_path: Path, capsys) -> None:
    reference = tmp_path / "orders.parquet"
    _never_seen(5_000, 1).to_parquet(reference, index=False)
    out = tmp_path / "suites" / "orders.json"
    assert (
        main(
            [
                "init-expectations",
                "--data",
                str(reference),
                "--target",
                "churned",
                "--id",
                "order_id",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    suite = json.loads(out.read_text())
    assert suite["name"] == "orders"
    kinds = {(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]}
    assert ("expect_column_values_to_be_unique", "order_id") in kinds
    assert ("expect_column_values_to_be_between", "basket_eur") in kinds
    assert ("expect_column_values_to_be_in_set", "channel") in kinds

    fresh = _never_seen(3_000, 2)
    assert [c.message for c in run_suite(fresh, out, "new_labels") if c.stops] == []
    broken = fresh.assign(
        basket_eur=fresh["basket_eur"] * 1000, channel=fresh["channel"].replace("app", "kiosk")
    )
    failed = {c.column for c in run_suite(broken, out, "new_labels") if c.stops}
    assert {"basket_eur", "channel"} <= failed

    # never overwrite silently
    assert main(["init-expectations", "--data", str(reference), "--out", str(out)]) == 1
    assert "pass --force" in capsys.readouterr().err
