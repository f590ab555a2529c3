"""Benchmark: the search of slices nobody configured, at a million rows and 30 columns.

    python benchmarks/slice_search.py                        # the issue's job: 1M rows x 30 columns
    python benchmarks/slice_search.py --rows 20000 --columns 12   # a smoke run

The job: a reference table and a batch of N rows each, C columns (a third categorical with 2 to
40 values, half continuous, the rest few-valued integers), one feature broken (null) in one
slice of a column nobody configured. Measured in one process run, on identical inputs:

- ours: `gatekeeper.data.slice_checks.slice_checks` (every column cut into slices: values,
  complements, quartile bins, two-way intersections; every feature's null / out-of-range /
  new-category / constant anomaly counted in each; the tests, Holm, naming), wall seconds and
  peak resident memory;
- bare script: what a team would write by hand for the same counts with pandas: a dense 0/1
  column per anomaly, then `groupby(cut).sum()` per cut for both tables (no tests, no naming:
  only the counting). It runs on the first K cuts and its time is extrapolated to all cuts.
- the per-segment checks (`broken_feature_checks`, overall only) for scale.

It prints a JSON report; `ratio` is the bare script's time / ours (above 1: ours is faster).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from itertools import combinations

import numpy as np
import pandas as pd


def make_table(rows: int, columns: int, seed: int) -> pd.DataFrame:
    """One population (the category shares are fixed), sampled with `seed`."""
    rng = np.random.default_rng(seed)
    shares = np.random.default_rng(0)
    data: dict[str, object] = {}
    categorical = max(2, columns // 3)
    continuous = max(1, columns // 2)
    for i in range(categorical):
        k = 2 + (i * 7) % 39
        data[f"cat{i}"] = rng.choice([f"v{j}" for j in range(k)], rows, p=shares.dirichlet(np.full(k, 2.0)))
    for i in range(continuous):
        data[f"num{i}"] = rng.lognormal(i % 4, 1.0, rows)
    for i in range(columns - categorical - continuous):
        data[f"code{i}"] = rng.integers(0, 3 + i, rows)
    data["y"] = rng.integers(0, 2, rows)
    return pd.DataFrame(data)


def bare_script(reference: pd.DataFrame, batch: pd.DataFrame, features: list[str], cuts_limit: int) -> dict:
    """Per-slice anomaly counts the hand-written way: dense indicators, a groupby per cut."""

    def indicators(frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for f in features:
            values = frame[f]
            out[f"{f}:null"] = values.isna()
            if pd.api.types.is_numeric_dtype(reference[f]):
                low, high = reference[f].quantile([0.001, 0.999])
                out[f"{f}:range"] = (values < low) | (values > high)
            else:
                out[f"{f}:new"] = ~values.isin(set(reference[f].dropna()))
            top = reference[f].value_counts().index[0]
            out[f"{f}:top"] = values == top
        return pd.DataFrame(out)

    start = time.perf_counter()
    keys = {}
    for frame_name, frame in (("reference", reference), ("batch", batch)):
        cut = {}
        for c in features:
            if pd.api.types.is_numeric_dtype(frame[c]) and reference[c].nunique() > 12:
                edges = reference[c].quantile([0.25, 0.5, 0.75]).to_numpy()
                cut[c] = np.searchsorted(edges, frame[c].to_numpy(), side="right")
            else:
                cut[c] = frame[c].to_numpy()
        keys[frame_name] = pd.DataFrame(cut)
    flags = {"reference": indicators(reference), "batch": indicators(batch)}
    small = [c for c in features if keys["reference"][c].nunique() <= 16]
    cuts = [[c] for c in features] + [list(p) for p in combinations(small, 2)]
    setup = time.perf_counter() - start
    start = time.perf_counter()
    done = 0
    for cut in cuts[:cuts_limit]:
        for name in ("reference", "batch"):
            flags[name].groupby([keys[name][c] for c in cut]).sum()
        done += 1
    per_cut = (time.perf_counter() - start) / max(done, 1)
    return {
        "cuts": len(cuts),
        "cuts_timed": done,
        "seconds_setup": round(setup, 2),
        "seconds_per_cut": round(per_cut, 4),
        "seconds": round(setup + per_cut * len(cuts), 2),
        "extrapolated": done < len(cuts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--bare-cuts", type=int, default=40, help="cuts the bare script is timed on")
    parser.add_argument("--no-peer", action="store_true", help="skip the bare script")
    args = parser.parse_args()

    from gatekeeper.config import parse_config
    from gatekeeper.data.checks import broken_feature_checks
    from gatekeeper.data.slice_checks import slice_checks

    reference = make_table(args.rows, args.columns, 1)
    batch = make_table(args.rows, args.columns, 2)
    broken = batch["cat1"] == "v0"  # a column nobody configured
    batch.loc[broken, "num0"] = np.nan
    features = [c for c in batch.columns if c != "y"]
    config = parse_config(
        {
            "model_name": "bench",
            "target": "y",
            "data": {"train": "/t.parquet", "new_labels": "/n.parquet", "evaluation": "/e.parquet"},
            "expectations": {"train": "suite", "new_labels": "suite"},
            "segments": ["cat0"],
        }
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    found = slice_checks(reference, batch, features, config)
    ours = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    broken_feature_checks(reference, batch, features, config)
    per_segment = time.perf_counter() - start
    report: dict[str, object] = {
        "job": {"rows": args.rows, "columns": args.columns, "reference_rows": len(reference)},
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "ours": {
            "seconds": round(ours, 2),
            "peak_rss_growth_mib": round((rss_after - rss_before) / 1024, 1),
            "findings": [c.message for c in found],
        },
        "per_segment_checks_overall": {"seconds": round(per_segment, 2)},
    }
    if not args.no_peer:
        bare = bare_script(reference, batch, features, args.bare_cuts)
        report["bare_script"] = bare
        report["ratio"] = round(bare["seconds"] / ours, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
