"""Seeded three-class data: which plan (basic, family, pro) a customer picks, by region.

Four numeric features and a `region`; each plan's appeal is linear in one feature, and the
choice is the most appealing plan after Gumbel noise (a multinomial logit). Two ways a world or
a batch can differ from the one the champion learned, each placed in one region and one plan:

- `new_offer=(region, plan)`: the world changed there: customers with high `x3` now pick
  `plan` (a new offer in that region). A champion trained before misses them; a candidate
  trained on the new labels learns it.
- `lost=(region, plan, kept)`: the batch is faulty there: a join kept only the share `kept`
  of that plan's rows in that region. A candidate trained on it learns that almost nobody there
  picks `plan`; the evaluation rows, complete, say otherwise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PLANS = ["basic", "family", "pro"]
REGIONS = ["north", "south", "east"]
REGION_SHARE = [0.4, 0.35, 0.25]
FEATURES = ["x0", "x1", "x2", "x3", "region"]
TARGET = "plan"


def plan_choices(
    n: int,
    seed: int,
    *,
    new_offer: tuple[str, str] | None = None,
    lost: tuple[str, str, float] | None = None,
) -> pd.DataFrame:
    """`n` customers and the plan each picked (see the module docstring for `new_offer` and `lost`;
    with `lost`, fewer than `n` rows come back)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    region = rng.choice(REGIONS, n, p=REGION_SHARE)
    appeal = np.stack([0.9 * x[:, 0], 0.9 * x[:, 1], 0.9 * x[:, 2] - 0.3], axis=1)
    if new_offer is not None:
        where, plan = new_offer
        appeal[:, PLANS.index(plan)] += np.where((region == where) & (x[:, 3] > 0.3), 2.5, 0.0)
    label = np.array(PLANS)[(appeal + rng.gumbel(size=appeal.shape)).argmax(axis=1)]
    frame = pd.DataFrame(x.round(4), columns=FEATURES[:4]).assign(region=region, plan=label)
    if lost is not None:
        where, plan, kept = lost
        gone = (frame["region"] == where) & (frame[TARGET] == plan) & (rng.random(n) >= kept)
        frame = frame[~gone].reset_index(drop=True)
    return frame
