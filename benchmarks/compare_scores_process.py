"""Benchmark: `gatekeeper compare-scores` as a whole process, against fairlearn's point estimates.

    pip install -e ".[bench]"
    python benchmarks/compare_scores_process.py                  # 1M rows x 50 segments, Parquet
    python benchmarks/compare_scores_process.py --format csv     # the same rows as CSV
    python benchmarks/compare_scores_process.py --rows 20000 --repeat 1   # a smoke run

One run writes a scores file (label `y`, `champion` and `candidate` P(positive), `segment` with
--segments values; --format parquet or csv, both accepted by compare-scores), then, --repeat
times each and interleaved (ours, peer, ours, peer, ...), runs as fresh interpreters:

- ours: `gatekeeper compare-scores --scores FILE --label y --champion champion --candidate
  candidate --segments segment --metric M --resamples R` (the console script next to this
  interpreter; PYTHONPATH is passed through, so a worktree's code is what runs): read, point
  estimates and R paired bootstrap resamples overall and per segment, decision, JSON and print;
- peer: a script that reads the same file with pandas and computes fairlearn's `MetricFrame`
  (overall and by segment) for each model with scikit-learn's metrics: point estimates only,
  no intervals.

Two metric sets: `roc_auc` alone (the issue's job) and every classification metric of the
registry (ECE, which scikit-learn lacks, is a ten-bin numpy function on the peer's side).
Wall time is spawn to exit; CPU time (user + system) and peak memory (maximum resident set) are
the child's own (os.wait4): on a shared machine CPU time moves less than wall time. It prints a
JSON report with medians, every run, and the ratios peer / ours of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GATEKEEPER = Path(sys.executable).parent / "gatekeeper"
# bytecode is kept, as on a user's machine: with PYTHONDONTWRITEBYTECODE set (some sandboxes set it)
# every process of ours compiles the project's modules again (~0.2 s each on the 2-core machine),
# which the peers' site-packages, compiled at install, never pay
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ALL_METRICS = [
    "roc_auc", "average_precision", "accuracy", "balanced_accuracy", "precision",
    "recall", "f1", "log_loss", "brier", "ece",
]  # fmt: skip

PEER = r"""
import sys
from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn import metrics as m

path, names = sys.argv[1], sys.argv[2].split(",")
frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)


def ece(y, p, bins=10):
    confidence = np.maximum(p, 1 - p)
    right = (p > 0.5) == y
    b = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = np.bincount(b, weights=right - confidence, minlength=bins)
    return np.abs(gap).sum() / len(y)


label = lambda f: (lambda y, p: f(y, p > 0.5))  # noqa: E731
known = {
    "roc_auc": m.roc_auc_score,
    "average_precision": m.average_precision_score,
    "accuracy": label(m.accuracy_score),
    "balanced_accuracy": label(m.balanced_accuracy_score),
    "precision": label(partial(m.precision_score, zero_division=0)),
    "recall": label(partial(m.recall_score, zero_division=0)),
    "f1": label(partial(m.f1_score, zero_division=0)),
    "log_loss": partial(m.log_loss, labels=[0, 1]),
    "brier": m.brier_score_loss,
    "ece": ece,
}
for model in ("champion", "candidate"):
    mf = MetricFrame(
        metrics={n: known[n] for n in names},
        y_true=frame["y"],
        y_pred=frame[model],
        sensitive_features=frame["segment"],
    )
    print(model, mf.overall.to_dict(), len(mf.by_group))
"""


def write_scores(path: Path, rows: int, segments: int, seed: int = 0) -> None:
    """The scores file: the same generator as benchmarks/segment_comparison.py."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    segment = rng.integers(0, segments, rows)
    y = rng.integers(0, 2, rows)
    signal = 1.0 * y + rng.normal(0, 1, rows) + 0.02 * (segment % 7)
    champion = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.8, rows) - 0.5)))
    candidate = 1 / (1 + np.exp(-(signal + rng.normal(0, 0.5, rows) - 0.5)))
    frame = pd.DataFrame(
        {"y": y, "segment": [f"s{i:02d}" for i in segment], "champion": champion, "candidate": candidate}
    )
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def timed(command: list[str], cwd: Path) -> dict[str, Any]:
    """Wall seconds and peak RSS (MiB) of one child process; its output is kept on failure."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({proc.returncode}):\n{output.decode()[-3000:]}")
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sets", default="auc,all", help="metric sets to run: auc, all (comma-separated)")
    parser.add_argument("--no-peer", action="store_true", help="skip fairlearn (smoke runs)")
    args = parser.parse_args()

    sets = {"auc": ["roc_auc"], "all": ALL_METRICS}
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "job": {"rows": args.rows, "segments": args.segments, "resamples": args.resamples,
                "format": args.format, "repeat": args.repeat},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scores = work / f"scores.{args.format}"
        write_scores(scores, args.rows, args.segments)
        report["job"]["file_mib"] = round(scores.stat().st_size / 2**20, 1)
        for name in args.sets.split(","):
            metrics = sets[name]
            ours_cmd = [
                str(GATEKEEPER), "compare-scores", "--scores", str(scores), "--label", "y",
                "--champion", "champion", "--candidate", "candidate", "--segments", "segment",
                "--metric", ",".join(metrics), "--resamples", str(args.resamples),
                "--output", str(work / "comparison.json"),
            ]  # fmt: skip
            peer_cmd = [sys.executable, "-c", PEER, str(scores), ",".join(metrics)]
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "fairlearn_point": []}
            timed(ours_cmd, work)  # warm the page cache and .pyc files, untimed
            for _ in range(args.repeat):
                runs["ours"].append(timed(ours_cmd, work))
                if not args.no_peer:
                    runs["fairlearn_point"].append(timed(peer_cmd, work))
            entry: dict[str, Any] = {"metrics": metrics, "command": " ".join(ours_cmd)}
            for side, got in runs.items():
                if got:
                    entry[side] = {
                        "median_seconds": statistics.median(r["seconds"] for r in got),
                        "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in got),
                        "median_peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in got),
                        "runs": got,
                    }
            if runs["fairlearn_point"]:
                for what in ("seconds", "cpu_seconds"):
                    entry[f"ratio_fairlearn_point / ours ({what})"] = round(
                        entry["fairlearn_point"][f"median_{what}"] / entry["ours"][f"median_{what}"], 2
                    )
            entry["decision"] = json.loads((work / "comparison.json").read_text()).get("decision")
            report[name] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
