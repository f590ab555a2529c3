"""What the new labels are worth when the champion has not degraded: a learning curve.

"No degradation" is not "no gain": a batch several times the champion's training data can pay
for a retrain in a world that did not move. The configured pipeline is fitted on nested
fractions of the reference rows (`train`, what the champion learned from), each fit scored on the
evaluation rows (at most `triage.learning_curve_rows` of them, a seeded sample), and a power law
`s(n) = a - b * n^-c` (the usual shape of learning curves) is fitted to those scores; its rise
from the reference's size to reference + new rows is the expected gain. The interval comes from
refitting the curve to the fits' scores with their residuals resampled (a residual bootstrap): it
widens the further the curve is extrapolated.

The retrain is warranted when the expected gain reaches `min_improvement + triage.retrain_cost`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.findings import LearningCurve, NewRowsTest
from gatekeeper.metrics import Array, estimate, metric
from gatekeeper.stats.rows import PairedRows
from gatekeeper.train.models import model_outputs
from gatekeeper.train.pipeline import ONE_THREAD_BELOW_ROWS, fit_candidate
from gatekeeper.vocabulary import Check

# Quarters. Halvings (1/8, 1/4, 1/2, 1: 2.75 reference-sizes of fitting instead of 4) were tried and
# measured (benchmarks/learning_curve_design.py): as accurate on generated worlds, but on the fleet
# test's `shifted` market they expected +0.0004 where quarters expected a gain the retrain then
# delivered (promoted): evidence too mixed to change the design for ~10-20% of the curve's time.
FRACTIONS = (0.25, 0.5, 0.75, 1.0)
REPEATS = 2  # fits per fraction below 1 (nested prefixes of independent shuffles)
MIN_FIT_ROWS = 100
RESAMPLES = 200
LEVEL = 0.9


def learning_curve(
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    new_rows: int,
    features: list[str],
    config: GateConfig,
    progress: Callable[[str], None] | None = None,
    workers: int | None = None,
    new_labels: pd.DataFrame | None = None,
    champion: PairedRows | None = None,
) -> LearningCurve | None:
    """The expected gain of retraining on `train` + `new_rows` rows over `train` alone, or None
    when the reference is too small to draw a curve from (fewer than three sizes). The fits run on
    `workers` threads (None: `fit_workers`' choice); the curve does not depend on how many. When the
    curve expects too little and `new_labels` are given, `new_rows_test` asks whether they are worth
    more than reference rows (the curve's premise), and a retrain is warranted if they are and a fit
    with them also beats the `champion` (its outputs on every evaluation row, `model_rows`), if given."""
    n = len(train)
    sizes = sorted({int(f * n) for f in FRACTIONS if f * n >= MIN_FIT_ROWS})
    if len(sizes) < 3 or new_rows <= 0 or not len(evaluation):
        return None
    m = metric(config.primary_metric)
    target = config.target
    classes: list[Any] = []
    if config.task == "classification":
        classes = [c.item() if hasattr(c, "item") else c for c in np.unique(train[target].dropna())]
    all_rows = len(evaluation)
    positions = scored_positions(all_rows, config.triage.learning_curve_rows, config.statistics.seed + 31)
    evaluation = evaluation if positions is None else evaluation.iloc[positions]
    y_eval = evaluation[target].to_numpy()
    rng = np.random.default_rng(config.statistics.seed + 29)
    jobs: list[pd.DataFrame] = []
    for repeat in range(REPEATS):
        order = rng.permutation(n)
        for size in sizes:
            if size == n and repeat:
                continue  # the whole reference is one fit, whatever the shuffle
            rows = train.iloc[order[:size]]
            if not classes or rows[target].nunique() == len(classes):
                jobs.append(rows)
    X_eval = evaluation[features]

    def score(rows: pd.DataFrame) -> float:
        model = fit_candidate(config, rows[features], rows[target])
        return _score(m.name, y_eval, model_outputs(model, X_eval, classes), classes, config)

    points: list[tuple[int, float]] = []
    scores = _side_by_side(score, jobs, fit_workers(config, n, len(jobs), workers))
    for rows, value in zip(jobs, scores, strict=True):
        if np.isfinite(value):
            points.append((len(rows), m.gain(value)))
        if progress:
            progress(f"learning curve: {len(rows)} rows -> {config.primary_metric} {value:.4f}")
    if len({s for s, _ in points}) < 3:
        return None
    x = np.array([s for s, _ in points], dtype=float)
    y = np.array([v for _, v in points], dtype=float)
    curve = _fit(x, y)
    gain = _gain(curve, n, n + new_rows)
    fitted = _predict(curve, x)
    residuals = y - fitted
    resampled = fitted + residuals[rng.integers(0, len(residuals), size=(RESAMPLES, len(residuals)))]
    _, b, c = _fit_many(x, resampled)
    draws = b * (float(n) ** -c - float(n + new_rows) ** -c)  # each refit's rise from n to n + new
    lo, hi = np.quantile(draws, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    threshold = config.min_improvement + config.triage.retrain_cost
    test = None
    if gain < threshold and new_labels is not None:
        on_champion = None
        if champion is not None and champion.n == all_rows:
            part = champion if positions is None else champion.take(positions)
            scored = estimate(m.name, part.targets, part.candidate).value
            on_champion = None if scored is None else m.gain(float(scored))
        swap = _SwapFit(train, new_labels, target, classes, threshold, config.statistics.seed + 37)
        test = swap.run(lambda rows: m.gain(score(rows)), m.gain, points, on_champion, progress)
    return LearningCurve(
        metric=config.primary_metric,
        sizes=[int(s) for s in x],
        scores=[float(m.gain(v)) for v in y],  # back to the metric's own sign
        reference_rows=n,
        new_rows=new_rows,
        expected_gain=float(gain),
        ci_low=float(min(lo, gain)),
        ci_high=float(max(hi, gain)),
        threshold=threshold,
        worth_retraining=bool(gain >= threshold or (test is not None and test.worth_more)),
        new_rows_test=test,
        basis=(
            f"power law fitted to {len(points)} fits of the configured pipeline on "
            f"{', '.join(str(s) for s in sizes)} of the {n} reference rows, scored on the "
            f"{_rows_scored(len(evaluation), all_rows)}, extrapolated to {n + new_rows} rows; "
            f"{int(LEVEL * 100)}% interval from {RESAMPLES} residual resamples"
        ),
    )


@dataclass(frozen=True)
class _SwapFit:
    """The new rows test (`NewRowsTest`): the configured pipeline fitted on the reference's size with
    up to half of it replaced by new labels, against the curve's fit on the whole reference, both
    scored on the curve's evaluation rows. Under the curve's premise (new rows are like reference
    rows) the two fits differ by the fits' own noise, measured by the curve's pairs (two fits of one
    size on independent shuffles of the reference, three sizes): the root mean square of their
    differences. The pairs are smaller fits than these two, so they overstate the noise at the
    reference's size: the test errs towards the curve's verdict. One-sided (worth more), at 95%
    with Student's t on as many degrees of freedom as pairs, and never below the threshold."""

    train: pd.DataFrame
    new_labels: pd.DataFrame
    target: str
    classes: list[Any]
    threshold: float
    seed: int

    def run(
        self,
        gain_of: Callable[[pd.DataFrame], float],
        own_sign: Callable[[float], float],
        points: list[tuple[int, float]],
        on_champion: float | None,
        progress: Callable[[str], None] | None,
    ) -> NewRowsTest | None:
        """The test, or None where it cannot be read: no fit on the whole reference, fewer than two
        pairs, fewer than MIN_FIT_ROWS new labels, or a swapped set missing a class."""
        n = len(self.train)
        whole = [v for size, v in points if size == n]
        by_size: dict[int, list[float]] = {}
        for size, v in points:
            by_size.setdefault(size, []).append(v)
        pairs = [v for size, v in by_size.items() if size < n and len(v) == 2]
        new = self.new_labels[self.new_labels[self.target].notna()]
        swapped = min(len(new), n // 2)
        if not whole or len(pairs) < 2 or swapped < MIN_FIT_ROWS:
            return None
        rng = np.random.default_rng(self.seed)
        rows = pd.concat(
            [
                self.train.iloc[rng.permutation(n)[: n - swapped]],
                new.iloc[rng.permutation(len(new))[:swapped]],
            ],
            ignore_index=True,
        )
        labels = rows[self.target]
        if self.classes and not (labels.isin(self.classes).all() and labels.nunique() == len(self.classes)):
            return None
        value = gain_of(rows)
        if not np.isfinite(value):
            return None
        from scipy.stats import t

        noise = float(np.sqrt(np.mean([(a - b) ** 2 for a, b in pairs])))
        bar = max(self.threshold, float(t.ppf(0.95, len(pairs))) * noise)
        difference = float(value - whole[0])
        over = None if on_champion is None else float(value - on_champion)
        test = NewRowsTest(
            swapped=swapped,
            reference_score=float(own_sign(whole[0])),
            swapped_score=float(own_sign(value)),
            difference=difference,
            noise=noise,
            bar=bar,
            worth_more=bool(difference > bar and (over is None or over > bar)),
            champion_score=None if on_champion is None else float(own_sign(on_champion)),
            over_champion=over,
        )
        if progress:
            progress(f"new rows test: {test.summary()}")
        return test


def fit_workers(config: GateConfig, rows: int, jobs: int, workers: int | None = None) -> int:
    """How many fits run at once: `workers` if given, else `compute.fit_threads`, else one per CPU
    core this process may use (joblib's count: affinity and a container's CPU quota, not the host's
    cores); one when the fits are large enough to use every core themselves (OpenMP,
    `fitting_threads`). Measured on 2 cores, the bank example's seven fits: 4.2 s one after another,
    2.9 s on two threads (a HistGradientBoosting fit of this size releases the GIL for much of its
    time). Each thread holds its own fit in memory."""
    if rows >= ONE_THREAD_BELOW_ROWS:
        return 1
    if not (chosen := workers or config.compute.fit_threads):
        from joblib import cpu_count  # type: ignore[import-untyped]

        chosen = cpu_count()
    return max(1, min(chosen, jobs))


def _side_by_side(
    work: Callable[[pd.DataFrame], float], jobs: list[pd.DataFrame], workers: int
) -> Iterator[float]:
    """`work` on each job, in order; on `workers` threads when more than one."""
    if workers <= 1:
        yield from map(work, jobs)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="learning-curve") as pool:
        yield from pool.map(work, jobs)


def scored_positions(rows: int, cap: int, seed: int) -> Array | None:
    """The positions `scored_rows` takes from a table of `rows` rows (None: every row)."""
    if rows <= cap:
        return None
    return np.random.RandomState(seed).choice(rows, size=cap, replace=False)  # as DataFrame.sample draws


def scored_rows(evaluation: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    """The evaluation rows each fit is scored on: all of them, or a seeded uniform sample of `cap`
    (`triage.learning_curve_rows`). The fits are compared on the same rows, so what the curve's shape
    needs is their differences. Measured on 1,000,000 generated evaluation rows (20,000 reference
    rows, 20,000 new, 3 training seeds each, a binary world scored by ROC AUC and a numeric one by
    RMSE): the expected gain moved by 0.00018-0.00037 with a 50,000-row sample and by 0.00003-0.0004
    with a 200,000-row one, against 0.002-0.016 between the seeds' training subsamples; a curve took
    2.8 s, 5.8 s and 22 s on 50,000, 200,000 and every row."""
    positions = scored_positions(len(evaluation), cap, seed)
    return evaluation if positions is None else evaluation.iloc[positions]


def _rows_scored(scored: int, total: int) -> str:
    if scored == total:
        return f"{total} evaluation rows"
    return f"a seeded sample of {scored} of the {total} evaluation rows (triage.learning_curve_rows)"


def _score(name: str, y: Array, outputs: Array, classes: list[Any], config: GateConfig) -> float:
    if not classes:
        rows = PairedRows.regression(y, outputs, None)
    else:
        rows = PairedRows.from_labels(y, outputs, None, classes, config.positive_label)
    value = estimate(name, rows.targets, rows.candidate).value
    return float("nan") if value is None else float(value)  # undefined on these rows (one class)


Curve = tuple[float, float, float]  # a, b, c of a - b * n^-c
C_LOW, C_HIGH = 0.05, 2.0  # the exponents a learning curve is allowed
GRID = 160  # exponents tried at first, then refined between the best one's neighbours, twice


def _fit(x: Array, y: Array) -> Curve:
    """The power law through the points (least squares, b >= 0 and c in [0.05, 2]); a flat line
    when the points do not rise."""
    a, b, c = _fit_many(x, y[None, :])
    return float(a[0]), float(b[0]), float(c[0])


def _fit_many(x: Array, ys: Array) -> tuple[Array, Array, Array]:
    """`_fit` for every row of `ys` at once (the residual bootstrap's refits): for a fixed exponent
    c the law is linear in a and b, so the least squares (with b >= 0) is closed-form; the best c
    is found on a grid over [0.05, 2] refined twice around each row's best. The global optimum
    within the bounds, to about 1e-5 in c, with no iterative solver per refit."""
    scale = float(x.min())
    logs = np.log(x / scale)  # >= 0
    centred = ys - ys.mean(axis=1, keepdims=True)
    total = np.einsum("rk,rk->r", centred, centred)
    rows = np.arange(len(ys))

    def best(exponents: Array) -> Array:  # each row's exponent of the least squares among these
        z = np.exp(-exponents[:, :, None] * logs[None, None, :])  # (rows, exponents, points)
        zc = z - z.mean(axis=2, keepdims=True)
        spread = np.einsum("rgk,rgk->rg", zc, zc)
        cov = np.einsum("rgk,rk->rg", zc, centred)
        # with b = -cov/spread >= 0 the fit removes cov^2/spread of the squares; with b = 0, nothing
        explained = np.where((cov < 0) & (spread > 0), cov**2 / np.where(spread > 0, spread, 1.0), 0.0)
        chosen: Array = exponents[rows, explained.argmax(axis=1)]
        return chosen

    grid = np.broadcast_to(np.linspace(C_LOW, C_HIGH, GRID), (len(ys), GRID))
    c = best(grid)
    for _ in range(2):  # between the best exponent's neighbours on the grid just tried
        step = grid[:, 1] - grid[:, 0]
        grid = np.linspace(np.clip(c - step, C_LOW, C_HIGH), np.clip(c + step, C_LOW, C_HIGH), 41, axis=1)
        c = best(grid)
    z = np.exp(-c[:, None] * logs[None, :])
    zc = z - z.mean(axis=1, keepdims=True)
    spread = np.einsum("rk,rk->r", zc, zc)
    cov = np.einsum("rk,rk->r", zc, centred)
    rises = (cov < 0) & (spread > 0) & (total > 0)
    b = np.where(rises, -cov / np.where(spread > 0, spread, 1.0), 0.0)
    a = ys.mean(axis=1) + b * z.mean(axis=1)
    c = np.where(rises, c, 1.0)
    return a, b * scale**c, c


def _predict(curve: Curve, n: Array) -> Array:
    a, b, c = curve
    return a - b * np.power(n, -c)


def _gain(curve: Curve, start: int, end: int) -> float:
    ends = _predict(curve, np.array([start, end], dtype=float))
    return float(ends[1] - ends[0])


def value_check(curve: LearningCurve, skip: Check) -> Check:
    """The triage verdict once the new labels' worth is known: retrain (a passing check that says
    why), or the skip, now with the estimate that justifies it."""
    test = curve.new_rows_test
    observed: dict[str, Any] = {
        "expected_gain": curve.expected_gain,
        "ci_low": curve.ci_low,
        "ci_high": curve.ci_high,
        "new_rows": curve.new_rows,
        "reference_rows": curve.reference_rows,
    }
    if test is not None:
        observed |= {
            "new_rows_worth_more": test.worth_more,
            "swap_difference": test.difference,
            "swap_bar": test.bar,
        }
    stated = f"min_improvement + triage.retrain_cost = {curve.threshold:g}"
    if test is not None and test.worth_more:
        return Check(
            "triage.value_of_new_labels",
            "none",
            f"the champion has not degraded and the learning curve expects little from more rows like "
            f"the reference ({curve.summary()} < {stated}), but the new labels are worth more than "
            f"reference rows: {test.summary()}; the curve's premise does not hold for them; retraining",
            observed=observed,
            threshold=curve.threshold,
        )
    if curve.worth_retraining:
        return Check(
            "triage.value_of_new_labels",
            "none",
            f"the champion has not degraded, but the new labels should pay for a retrain: "
            f"{curve.summary()} >= {stated}; retraining",
            observed=observed,
            threshold=curve.threshold,
        )
    worth_no_more = "" if test is None else f"; nor are they worth more than reference rows: {test.summary()}"
    return replace(
        skip,
        message=f"{skip.message}; the new labels are not expected to pay for it: {curve.summary()} "
        f"< {stated}{worth_no_more}",
        observed=observed,
        threshold=curve.threshold,
    )
