"""Benchmark: the candidate's training and scoring on a shared machine, by OpenMP wait policy.

    python benchmarks/openmp_contention.py                 # 40,000 rows, 3 repeats
    python benchmarks/openmp_contention.py --rows 10000 --repeats 1   # a smoke run

scikit-learn's HistGradientBoosting (the gate's default model) runs on OpenMP. libgomp's
default lets idle threads spin on a CPU between parallel regions; gatekeeper sets
OMP_WAIT_POLICY=PASSIVE (threads sleep) unless the user set it. This measures both in one run,
on identical data, each in fresh processes (libgomp reads the variable once, at load):

- alone: one fit + scoring on an otherwise idle machine;
- two at once: two such processes started together (two gate runs on one worker);
- beside a busy core: one process while another process spins on a CPU.

It prints a JSON report: wall seconds per case and policy, and the ratio libgomp-default /
PASSIVE (above 1: PASSIVE is faster). On the 2-core machine this was written on, the gate's flow
run inside a Prefect process worker beside a busy core took 40-150 s to fit what takes 1 s
alone with the default policy, and 1 s with PASSIVE; this standalone benchmark shows the same
direction with smaller ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

CHILD = r"""
import sys, time
import sklearn.ensemble  # before gatekeeper: the policy is whatever the environment says
import numpy as np, pandas as pd
from types import SimpleNamespace
from gatekeeper.train.pipeline import build_default_pipeline

rows = int(sys.argv[1])
rng = np.random.default_rng(0)
frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(6)})
frame["job"] = rng.choice(["admin", "student", "retired", "services", "technician"], rows)
frame["month"] = rng.choice(["jan", "feb", "mar", "apr", "may", "jun"], rows)
signal = frame["x0"] + 0.5 * frame["x1"] * (frame["job"] == "student") + rng.normal(size=rows)
target = (signal > 0.3).astype(int)
config = SimpleNamespace(task="classification", random_state=0)  # all the builder reads
started = time.perf_counter()
model = build_default_pipeline(config).fit(frame, target)
fitted = time.perf_counter() - started
for _ in range(10):
    model.predict_proba(frame)
print(f"{fitted:.3f} {time.perf_counter() - started:.3f}")
"""


def run_children(count: int, rows: int, policy: str | None) -> list[tuple[float, float]]:
    """Start `count` child processes together; their (fit, fit + scoring) seconds."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(rows)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"benchmark child failed (exit {child.returncode})")
        fit, total = out.split()
        results.append((float(fit), float(total)))
    return results


def measure(case: str, rows: int, policy: str | None) -> dict[str, float]:
    hog = None
    if case == "beside a busy core":
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        results = run_children(2 if case == "two at once" else 1, rows, policy)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return {
        "fit_s": round(max(r[0] for r in results), 3),
        "fit_and_scoring_s": round(max(r[1] for r in results), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3, help="the median of this many runs is reported")
    args = parser.parse_args()

    report: dict[str, object] = {
        "rows": args.rows,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "cases": {},
    }
    for case in ("alone", "two at once", "beside a busy core"):
        entry: dict[str, object] = {}
        for label, policy in (("libgomp_default", None), ("passive", "PASSIVE")):
            runs = [measure(case, args.rows, policy) for _ in range(args.repeats)]
            entry[label] = {key: sorted(r[key] for r in runs)[len(runs) // 2] for key in runs[0]}
            print(f"{case:>20} {label:>16}: {entry[label]}", file=sys.stderr, flush=True)
        default, passive = entry["libgomp_default"], entry["passive"]
        entry["ratio_default_over_passive"] = {
            key: round(default[key] / passive[key], 2)
            for key in default  # type: ignore[index]
        }
        report["cases"][case] = entry  # type: ignore[index]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
