"""Writes shadow.parquet: two fraud models' scores on the same 20,000 transactions (simulated, seeded).

The candidate ranks fraud better almost everywhere, but worse on the small `browser=chrome-beta`
segment: the case `gatekeeper compare-scores --key browser=chrome-beta` is for. Run from anywhere:
`python examples/shadow_scores/make_scores.py` rewrites the file next to this script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 20_000


def scores(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    browser = rng.choice(
        ["chrome", "safari", "firefox", "edge", "chrome-beta"], ROWS, p=[0.4, 0.25, 0.15, 0.15, 0.05]
    )
    country = rng.choice(["US", "GB", "DE", "BR", "IN"], ROWS)
    risk = rng.normal(size=ROWS)
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-(2.0 * risk - 2.5)))).astype(int)
    beta = browser == "chrome-beta"
    old = risk + rng.normal(scale=1.2, size=ROWS)
    new = np.where(beta, risk + rng.normal(scale=2.5, size=ROWS), risk + rng.normal(scale=0.8, size=ROWS))
    return pd.DataFrame(
        {
            "browser": browser,
            "country": country,
            "y": y,
            "old_score": np.round(1 / (1 + np.exp(-(old - 2.0))), 6),
            "new_score": np.round(1 / (1 + np.exp(-(new - 2.0))), 6),
        }
    )


if __name__ == "__main__":
    path = Path(__file__).with_name("shadow.parquet")
    scores().to_parquet(path, index=False)
    print(f"wrote {path}")
