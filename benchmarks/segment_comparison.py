"""Benchmark: paired segment comparison at a million rows, against fairlearn's MetricFrame.

    pip install -e ".[bench]"
    python benchmarks/segment_comparison.py              # the issue's job: 1M rows, 50 segments
    python benchmarks/segment_comparison.py --rows 20000 --no-peer   # a smoke run

The job, after scoring: two models' probabilities on N evaluation rows, S segments (one
column), metrics accuracy + ROC AUC + log loss, paired bootstrap with R resamples, overall
and per segment. Measured in one process run, on identical inputs:

- ours: `gatekeeper.comparison.gather_evidence` (point estimates + R paired resamples for
  both models, every segment), wall time and peak traced memory;
- fairlearn point estimates: `MetricFrame` for each model on the same N rows (no intervals);
- fairlearn bootstrap: `MetricFrame(n_boot=B)` for one model on the first M rows; its time
  for the full job is extrapolated linearly in rows, resamples and models
  (x N/M x R/B x 2), since MetricFrame recomputes every metric on every resample.

It prints a JSON report with the ratios (fairlearn time / ours).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
import tracemalloc
from functools import partial

import numpy as np
import pandas as pd


def make_scores(rows: int, segments: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, segments, rows)
    y = rng.integers(0, 2, rows)
    signal = 1.0 * y + rng.normal(0, 1, rows) + 0.02 * (segment % 7)
    champion = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.8, rows) - 0.5)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.5, rows) - 0.5)))
    return pd.DataFrame(
        {"y": y, "segment": segment.astype(str), "champion": champion, "candidate": candidate}
    )


def run_ours(frame: pd.DataFrame, resamples: int) -> dict[str, float]:
    from gatekeeper.compare.segments import compare_models
    from gatekeeper.config import PolicyConfig
    from gatekeeper.stats.rows import PairedRows

    config = PolicyConfig.model_validate(
        {
            "primary_metric": "roc_auc",
            "secondary_metrics": ["accuracy", "log_loss"],
            "segments": ["segment"],
            "statistics": {"n_resamples": resamples},
            "discovery": {"enabled": False},
        }
    )
    cand = frame["candidate"].to_numpy()
    champ = frame["champion"].to_numpy()
    tracemalloc.start()
    started = time.perf_counter()
    rows = PairedRows.from_labels(
        frame["y"].to_numpy(), np.column_stack([1 - cand, cand]), np.column_stack([1 - champ, champ]), [0, 1]
    )
    evidence = compare_models(frame, rows, config)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(evidence.segments) == frame["segment"].nunique()
    return {"seconds": seconds, "peak_traced_mib": peak / 2**20}


def _fairlearn_metrics():
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    return {
        "accuracy": lambda y, p: accuracy_score(y, p > 0.5),
        "roc_auc": roc_auc_score,
        "log_loss": partial(log_loss, labels=[0, 1]),
    }


def run_fairlearn_point(frame: pd.DataFrame) -> float:
    from fairlearn.metrics import MetricFrame

    started = time.perf_counter()
    for model in ("champion", "candidate"):
        MetricFrame(
            metrics=_fairlearn_metrics(),
            y_true=frame["y"],
            y_pred=frame[model],
            sensitive_features=frame["segment"],
        )
    return time.perf_counter() - started


def run_fairlearn_bootstrap(frame: pd.DataFrame, n_boot: int) -> float:
    from fairlearn.metrics import MetricFrame

    started = time.perf_counter()
    MetricFrame(
        metrics=_fairlearn_metrics(),
        y_true=frame["y"],
        y_pred=frame["candidate"],
        sensitive_features=frame["segment"],
        n_boot=n_boot,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--peer-boot-rows", type=int, default=100_000)
    parser.add_argument("--peer-n-boot", type=int, default=20)
    parser.add_argument("--no-peer", action="store_true", help="skip fairlearn (smoke runs)")
    args = parser.parse_args()

    frame = make_scores(args.rows, args.segments)
    report: dict[str, object] = {
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "job": {
            "rows": args.rows,
            "segments": args.segments,
            "models": 2,
            "metrics": ["roc_auc", "accuracy", "log_loss"],
            "resamples": args.resamples,
        },
    }
    run_ours(frame.head(10_000), 100)  # warm imports and caches
    ours = run_ours(frame, args.resamples)
    report["ours"] = ours
    if not args.no_peer:
        point = run_fairlearn_point(frame)
        boot_rows = min(args.peer_boot_rows, args.rows)
        boot = run_fairlearn_bootstrap(frame.head(boot_rows), args.peer_n_boot)
        extrapolated = boot * (args.rows / boot_rows) * (args.resamples / args.peer_n_boot) * 2
        ours_small = run_ours(frame.head(boot_rows), args.resamples)
        report["fairlearn"] = {
            "point_estimates_seconds": point,
            "bootstrap_seconds": boot,
            "bootstrap_rows": boot_rows,
            "bootstrap_n_boot": args.peer_n_boot,
            "bootstrap_models": 1,
            "full_job_extrapolated_seconds": extrapolated,
            "extrapolation": f"x {args.rows / boot_rows:g} rows x {args.resamples / args.peer_n_boot:g} "
            "resamples x 2 models (linear)",
        }
        report["ours_on_bootstrap_rows"] = ours_small
        report["ratios"] = {
            "fairlearn_point_estimates_only / ours_full_job": point / ours["seconds"],
            "fairlearn_full_job_extrapolated / ours_full_job": extrapolated / ours["seconds"],
            "fairlearn_n_boot_one_model / ours_paired_all_resamples (same rows)": boot
            / ours_small["seconds"],
        }
    report["process_max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
