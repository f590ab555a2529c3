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
    roles = {(e["kwargs"].get("column"), e["type"]): e["meta"]["role"] for e in suite["expectations"]}
    assert roles[("churned", "expect_column_values_to_be_in_set")] == "invariant"
    assert roles[("channel", "expect_column_values_to_be_in_set")] == "reference"
    basket = next(e for e in suite["expectations"] if e["kwargs"].get("column") == "basket_eur"
                  and e["type"] == "expect_column_values_to_be_between")  # fmt: skip
    assert "max_value" not in basket["kwargs"], "an amount has no upper bound by nature"
    assert all(e["meta"]["basis"] for e in suite["expectations"])

    fresh = _never_seen(3_000, 2)
    assert [c.message for c in run_suite(fresh, out, "new_labels") if c.stops] == []
    later = fresh.assign(basket_eur=fresh["basket_eur"] * 3)  # prices moved on: healthy, not blocked
    assert [c.message for c in run_suite(later, out, "new_labels") if c.stops] == []
    broken = fresh.assign(
        basket_eur=-fresh["basket_eur"],
        channel=fresh["channel"].replace("app", "kiosk"),
        items=fresh["items"].where(fresh.index % 2 == 0),
        churned=fresh["churned"].replace(1, 7),
    )
    failed = {c.column for c in run_suite(broken, out, "new_labels") if c.stops}
    assert failed >= {"basket_eur", "channel", "items", "churned"}

    # never overwrite silently
    assert main(["init-expectations", "--data", str(reference), "--out", str(out)]) == 1
    assert "pass --force" in capsys.readouterr().err
