"""Study: the learning curve's design (which training sizes it fits), its accuracy and its cost.

    python benchmarks/learning_curve_design.py                    # 3 worlds x 2 sizes x 2 batches
    python benchmarks/learning_curve_design.py --seeds 2 --truth-fits 3   # a quicker run

The gate's learning curve (gatekeeper/triage/value.py) fits the configured pipeline on fractions
of the reference rows, fits a power law to the scores and reads the expected gain of retraining
on reference + new rows. Fewer or smaller fits cost less; this measures what a design gives up.

Worlds, generated (the gate's default pipeline, HistGradientBoosting, on each): a binary target
with interactions (ROC AUC), three classes (ROC AUC, one-vs-rest), a numeric target (RMSE), and
a saturated world (a linear binary target and a logistic regression as the `trainer`: the true
gain is about nothing, so the verdict should be "not worth it"); a
reference of N rows and a batch of new rows (N and 4N). The truth: the mean score of
--truth-fits fits on N independent rows and on N + new rows, scored on 20,000 fresh rows;
its difference is the true gain. Each design draws the curve from --seeds independent
references, scored on the same fresh rows, and is judged on: the error of its expected gain
(mean absolute, mean signed), how often its 90% interval holds the true gain, how often its
verdict (gain >= min_improvement) agrees with the truth's, and its fitting time (CPU seconds of
the fits, one thread, so designs compare on work, not on scheduling).

It prints a JSON report per design and per world.

Measured on the 2-core machine (2026-12-07; the first three worlds at 1,500 and 6,000 reference
rows, the saturated one at 2,000 and 8,000; 4 references each, 6 truth fits):

| worlds | design | mean abs error | mean signed error | 90% interval covers | verdict agrees | CPU a curve |
|---|---|---|---|---|---|---|
| binary, multiclass, numeric (48 curves) | quarters | 0.0134 | +0.0081 | 88% | 100% | 4.39 s |
| | halvings | 0.0112 | +0.0100 | 85% | 100% | 4.00 s |
| saturated (16 curves; true gain 0.0001-0.0014) | quarters | 0.00068 | +0.00006 | 100% | 88% | 0.23 s |
| | halvings | 0.00055 | -0.00020 | 75% | 100% | 0.23 s |

Every true gain of the first three worlds is above min_improvement (0.002), every one of the
saturated world below it: the verdicts that can go wrong are "worth it" on the saturated world,
which quarters said twice (expected +0.0030 and +0.0022 where the truth was +0.0007). Both designs
promise more than the truth on average where there is a gain to promise. On the bank example
(20,000 reference rows) halvings' seven fits take 3.4 s against quarters' 4.2 s (one thread).

Measured again on 2026-12-07 (night; the four worlds at 2,000 and 8,000 reference rows, 4
references each, 6 truth fits, 64 curves a design), with two designs of fewer fits, each size
fitted once on one shuffle:

| design | fits | mean abs error | mean signed error | 90% interval covers | verdict agrees | CPU a curve |
|---|---|---|---|---|---|---|
| quarters, two shuffles | 7 | 0.0109 | +0.0084 | 92% | 97% | 3.35 s |
| halvings, two shuffles | 7 | 0.0103 | +0.0076 | 80% | 100% | 3.13 s |
| fifths, one shuffle | 5 | 0.0116 | +0.0094 | 55% | 97% | 2.41 s |
| sixths, one shuffle | 6 | 0.0102 | +0.0084 | 64% | 98% | 2.87 s |

One shuffle costs 14-28% less and expects as well, but its interval covers the truth in 55-64% of
curves where it claims 90%: nested prefixes of one shuffle lie on a smooth path, so the residuals
the interval resamples miss most of the fits' noise. A reported interval that wrong is not worth
the saving.

The gate keeps quarters. With halvings, the fleet integration test's `shifted` market (3,000
rows) expected +0.0004 and was not retrained, where quarters expected a gain and the retrain was
promoted on the comparison's evidence; in benchmarks/fleet.py's 200 models halvings retrained
more (8 more `shifted` models promoted, 3 more `steady` ones rejected). The evidence is mixed,
and the saving (10-20% of the curve's time) too small to change the design on it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DESIGNS = {  # name: (fractions, fits per fraction below 1)
    "quarters (0.25, 0.5, 0.75, 1)": ((0.25, 0.5, 0.75, 1.0), 2),
    "halvings (0.125, 0.25, 0.5, 1)": ((0.125, 0.25, 0.5, 1.0), 2),
    "fifths, one shuffle (0.2, 0.4, 0.6, 0.8, 1)": ((0.2, 0.4, 0.6, 0.8, 1.0), 1),
    "sixths, one shuffle (1/6 ... 1)": (tuple(i / 6 for i in range(1, 7)), 1),
}
WORLDS = ["binary", "multiclass", "numeric", "saturated"]
FEATURES = [f"x{i}" for i in range(8)] + ["group"]


def world(kind: str, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=(rows, 8))
    group = rng.choice(["a", "b", "c", "d"], rows)
    signal = (
        x[:, 0]
        + np.sin(2 * x[:, 1]) * x[:, 2]
        + 0.8 * x[:, 3] * x[:, 4]
        - 0.5 * np.abs(x[:, 5])
        + 0.6 * (group == "b") * x[:, 6]
    )
    frame = pd.DataFrame(x, columns=FEATURES[:8])
    frame["group"] = group
    if kind == "saturated":  # linear, for a linear model: it has learned it all from a few hundred rows
        frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-(1.5 * x[:, 0] - x[:, 1])))).astype(int)
    elif kind == "binary":
        frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    elif kind == "multiclass":
        other = x[:, 7] + 0.7 * x[:, 0] * x[:, 1]
        logits = np.column_stack([signal, other, np.zeros(rows)]) * 1.5
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        frame["y"] = (rng.random(rows)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    else:
        frame["y"] = signal + rng.normal(0, 0.8, rows)
    return frame


def linear(config: Any) -> Any:
    """The saturated world's pipeline: a logistic regression, which a linear world saturates."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = make_column_transformer((StandardScaler(), FEATURES[:8]), (OneHotEncoder(), ["group"]))
    return make_pipeline(columns, LogisticRegression(max_iter=500))


def config_for(kind: str) -> Any:
    from gatekeeper.config import parse_config

    trainer = {"trainer": f"{Path(__file__).stem}:linear"} if kind == "saturated" else {}
    return parse_config(
        {
            **trainer,
            "model_name": "study",
            "target": "y",
            "task": "regression" if kind == "numeric" else "classification",
            "data": {"train": "/d/t.parquet", "new_labels": "/d/n.parquet", "evaluation": "/d/e.parquet"},
            "expectations": {"train": "suite", "new_labels": "suite"},
            "primary_metric": "rmse" if kind == "numeric" else "roc_auc",
            "min_improvement": 0.002,
        }
    )


def score_of(kind: str, config: Any, rows: pd.DataFrame, evaluation: pd.DataFrame) -> float:
    from gatekeeper.metrics import metric
    from gatekeeper.train.models import model_outputs
    from gatekeeper.train.pipeline import fit_candidate
    from gatekeeper.triage.value import _score

    classes = [] if kind == "numeric" else sorted(rows["y"].unique().tolist())
    model = fit_candidate(config, rows[FEATURES], rows["y"])
    outputs = model_outputs(model, evaluation[FEATURES], classes)
    return metric(config.primary_metric).gain(
        _score(config.primary_metric, evaluation["y"].to_numpy(), outputs, classes, config)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 8_000])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--truth-fits", type=int, default=6)
    parser.add_argument("--worlds", nargs="+", choices=WORLDS, default=WORLDS)
    parser.add_argument("--designs", nargs="+", choices=list(DESIGNS), default=list(DESIGNS))
    args = parser.parse_args()

    from gatekeeper.triage import value

    report: dict[str, Any] = {"designs": {}, "cases": []}
    designs = {name: DESIGNS[name] for name in args.designs}
    tallies: dict[str, dict[str, list[float]]] = {d: {} for d in designs}
    for kind in args.worlds:
        config = config_for(kind)
        rng = np.random.default_rng(WORLDS.index(kind) + 7)
        evaluation = world(kind, 20_000, rng)
        for n in args.sizes:
            fits = range(args.truth_fits)
            base = np.mean([score_of(kind, config, world(kind, n, rng), evaluation) for _ in fits])
            for new in (n, 4 * n):
                grown = np.mean([score_of(kind, config, world(kind, n + new, rng), evaluation) for _ in fits])
                truth = float(grown - base)
                references = [world(kind, n, rng) for _ in range(args.seeds)]
                case: dict[str, Any] = {"world": kind, "reference_rows": n, "new_rows": new}
                case["true_gain"] = truth
                for name, (fractions, repeats) in designs.items():
                    value.FRACTIONS, value.REPEATS = fractions, repeats
                    found = []
                    started = time.process_time()
                    for reference in references:
                        curve = value.learning_curve(reference, evaluation, new, FEATURES, config, workers=1)
                        assert curve is not None
                        found.append(curve)
                    cpu = time.process_time() - started
                    gains = np.array([c.expected_gain for c in found])
                    hits = [c.ci_low <= truth <= c.ci_high for c in found]
                    agree = [c.worth_retraining == (truth >= c.threshold) for c in found]
                    case[name] = {
                        "expected_gains": [round(g, 5) for g in gains],
                        "intervals": [[round(c.ci_low, 5), round(c.ci_high, 5)] for c in found],
                        "cpu_seconds_per_curve": cpu / len(found),
                    }
                    tally = tallies[name]
                    for key, values in (
                        ("abs_error", np.abs(gains - truth)),
                        ("signed_error", gains - truth),
                        ("covered", hits),
                        ("verdict_agrees", agree),
                        ("cpu_seconds", [cpu / len(found)] * len(found)),
                    ):
                        tally.setdefault(key, []).extend(float(v) for v in values)
                report["cases"].append(case)
                print(json.dumps(case), flush=True)
    for name, tally in tallies.items():
        report["designs"][name] = {key: round(float(np.mean(v)), 5) for key, v in tally.items()} | {
            "curves": len(tally["abs_error"])
        }
    print(json.dumps(report["designs"], indent=2))


if __name__ == "__main__":
    main()
