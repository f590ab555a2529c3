"""A starter suite never cries wolf on the data it was learned from (real GX), yet still blocks faults.

Property: a suite learned from a file does not block a bootstrap resample of that same file, overall
or in any segment of at least `min_segment_rows` rows; the false-alarm rate over many resamples,
tables and segments must be at most 1%. The tables are generated with varied shapes each run of the
test's seeds: skewed and heavy-tailed numbers, nulls concentrated in some segments, rare categories,
booleans, integer counts, a label, segments of very different sizes.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatekeeper.data.starter import learn_suite
from gatekeeper.data.suites import run_suite

pytestmark = pytest.mark.slow

MIN_ROWS = 200
RESAMPLES = 30


def _table(seed: int) -> pd.DataFrame:
    """A reference table of a shape drawn from `seed`."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3_000, 8_000))
    sizes = rng.dirichlet(np.full(int(rng.integers(3, 7)), 0.8))
    source = rng.choice([f"sys{i}" for i in range(len(sizes))], n, p=sizes)
    codes = pd.Series(source).astype("category").cat.codes.to_numpy()
    null_base = rng.uniform(0, 0.08)
    null_rate = null_base * (1 + codes / max(codes.max(), 1))  # nulls differ between sources, up to 2x
    amount = rng.lognormal(rng.uniform(0, 4), rng.uniform(0.3, 1.5), n)
    rare = rng.zipf(1.6, n).clip(max=80)  # a long tail of categories seen once
    frame = pd.DataFrame(
        {
            "source": source,
            "amount": np.where(rng.random(n) < null_rate, np.nan, amount.round(2)),
            "delta": rng.standard_t(3, n),  # negative values: no bound at all
            "share": rng.beta(2, 5, n),
            "count": rng.poisson(rng.uniform(0.5, 20), n),
            "flag": rng.random(n) < rng.uniform(0.05, 0.5),
            "merchant": np.where(rng.random(n) < null_base, None, [f"m{v}" for v in rare]),
            "label": rng.integers(0, 2, n),
        }
    )
    return frame


@pytest.mark.parametrize("seed", [11, 12, 13], ids=["table-a", "table-b", "table-c"])
def test_a_learned_suite_does_not_block_resamples_of_its_own_file(tmp_path: Path, seed: int) -> None:
    import json

    frame = _table(seed)
    path = tmp_path / f"ref{seed}.json"
    path.write_text(json.dumps(learn_suite(frame, path.stem, target="label", min_rows=MIN_ROWS)))
    rng = np.random.default_rng(seed + 1000)
    runs, alarms = 0, []
    for _ in range(RESAMPLES):
        sample = frame.iloc[rng.integers(0, len(frame), len(frame))].reset_index(drop=True)
        parts = [(None, sample)] + [
            (f"source={v}", rows) for v, rows in sample.groupby("source") if len(rows) >= MIN_ROWS
        ]
        for segment, rows in parts:
            runs += 1
            found = run_suite(rows, path, "new_labels", segment=segment)
            alarms += [f"{segment}: {c.message}" for c in found if c.stops]
    print(f"seed {seed}: {len(alarms)} blocking findings in {runs} validations")
    assert runs >= RESAMPLES * 2
    assert len(alarms) <= 0.01 * runs, alarms[:5]


def test_the_same_suite_still_blocks_a_feature_broken_in_one_segment(tmp_path: Path) -> None:
    import json

    frame = _table(11)
    path = tmp_path / "ref.json"
    path.write_text(json.dumps(learn_suite(frame, path.stem, target="label", min_rows=MIN_ROWS)))
    biggest = frame["source"].value_counts().index[0]
    broken = frame.copy()
    rows = broken["source"] == biggest
    broken.loc[rows, "amount"] = np.nan  # the pipeline of one source stopped filling it
    broken.loc[rows, "share"] = broken.loc[rows, "share"] * 100  # a percentage where a share was
    broken["flag"] = broken["flag"].astype(object).where(~rows, None)
    found = run_suite(broken[rows].reset_index(drop=True), path, "new_labels", segment=f"source={biggest}")
    assert {c.column for c in found if c.stops} >= {"amount", "share", "flag"}


def test_on_real_time_ordered_data_later_windows_of_healthy_data_are_not_blocked(tmp_path: Path) -> None:
    """The bank campaign (real, time-ordered, with a recession in it): a suite learned from the first
    eighth of the rows passes every later eighth, where rates turn negative and counts grow."""
    import json

    from gatekeeper.data.tables import read_table

    full = read_table(
        str(Path(__file__).resolve().parents[2] / "examples/bank_marketing/data/bank-additional-full.csv.gz")
    )
    cuts = np.linspace(0, len(full), 9).astype(int)
    windows = [full.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(cuts)]
    path = tmp_path / "first.json"
    path.write_text(json.dumps(learn_suite(windows[0], path.stem, target="y", min_rows=MIN_ROWS)))
    blocked = {
        i: [c.message for c in run_suite(w, path, "new_labels") if c.stops] for i, w in enumerate(windows)
    }
    assert {i: found for i, found in blocked.items() if found} == {}
    small = windows[0][windows[0]["job"] == "student"].reset_index(drop=True)  # a key segment of ~50 rows
    assert [c.message for c in run_suite(small, path, "new_labels", segment="job=student") if c.stops] == []


@pytest.mark.parametrize("layout", ["time", "entities"])
def test_real_gx_counts_are_the_ones_judged_in_units(tmp_path: Path, layout: str) -> None:
    """On rows tied by time or entity, GX's own unexpected counts are the ones the gate re-reads in
    units (`suite_units` keeps GX's judgement whenever its reading differs): every row-wise failure
    of a starter suite on a faulted batch is judged in units, and the fault still blocks."""
    from gatekeeper.data.suite_units import expectations_in_units
    from tests.builders import make_config
    from tests.worlds import make_world

    world = make_world(5, layout, rows=6_000)  # type: ignore[arg-type]
    path = tmp_path / "world.json"
    path.write_text(
        json.dumps(learn_suite(world.reference, "world", target=world.target, min_rows=len(world.batch)))
    )
    batch = world.batch.copy()
    broken, sensor = world.names["cat_b"], world.names["sensor"]
    batch.loc[batch.index[len(batch) // 3 :], broken] = None  # a category column gone for 2/3 of the batch
    batch.loc[batch.index[::7], sensor] = -5.0  # and a sentinel in the sensor (whose natural floor is none)
    config = make_config(**world.config_overrides())
    checks = run_suite(batch, path, "new_labels", rules=config.data_checks)
    judged = expectations_in_units(checks, world.reference, batch, config)
    failed = [c for c in checks if c.effect == "block" and "mostly" in (c.threshold or {})]
    assert failed
    read = [c for c in judged if isinstance(c.observed, dict) and "unit" in c.observed]
    assert {c.column for c in read} >= {broken}, [c.message for c in judged if not c.holds]
    assert any(c.effect == "block" and c.column == broken for c in judged)
