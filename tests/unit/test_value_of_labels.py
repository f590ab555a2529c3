"""What new labels are worth when the champion has not degraded: the learning curve."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from gatekeeper.triage.value import _fit, _gain, learning_curve, value_check
from gatekeeper.vocabulary import Check
from tests.builders import make_config


def test_the_power_law_recovers_a_known_curve_and_its_gain() -> None:
    sizes = np.array([500, 1000, 2000, 4000, 500, 1000, 2000], dtype=float)
    truth = 0.9 - 2.0 * sizes**-0.5
    curve = _fit(sizes, truth)
    assert _gain(curve, 4000, 40000) == pytest.approx(2.0 * (4000**-0.5 - 40000**-0.5), rel=1e-3)


def test_a_flat_curve_expects_nothing() -> None:
    sizes = np.array([500, 1000, 2000, 4000], dtype=float)
    assert _gain(_fit(sizes, np.full(4, 0.8)), 4000, 40000) == 0.0
    falling = np.array([0.81, 0.80, 0.80, 0.79])  # noise that happens to fall: no negative value claimed
    assert _gain(_fit(sizes, falling), 4000, 40000) <= 1e-9


def linear(config: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)


def forest(config: Any) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=30, min_samples_leaf=1, random_state=0, n_jobs=1)


def _world(n: int, seed: int, features: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    # a relation with interactions: a flexible model keeps learning it from more rows
    logit = x[:, 0] + np.sin(2 * x[:, 1]) * x[:, 2] + 0.8 * x[:, 3] * x[:, 4] - 0.5 * np.abs(x[:, 5])
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(features)])
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * logit))).astype(int)
    return frame


def _config(trainer: str, **triage: Any) -> Any:
    return make_config(
        target="y",
        segments=[],
        key_segments=[],
        trainer=f"tests.unit.test_value_of_labels:{trainer}",
        triage=triage,
        min_improvement=0.005,
    )


@pytest.mark.slow
def test_many_new_labels_for_a_data_hungry_model_are_worth_a_retrain() -> None:
    train, evaluation = _world(1_600, 1, 8), _world(6_000, 2, 8)
    features = [f"x{i}" for i in range(8)]
    curve = learning_curve(train, evaluation, 16_000, features, _config("forest"))
    assert curve is not None
    assert curve.worth_retraining, curve
    assert curve.ci_low <= curve.expected_gain <= curve.ci_high
    assert curve.sizes.count(1_600) == 1
    assert len(curve.sizes) == 7


@pytest.mark.slow
def test_a_saturated_model_does_not_pay_for_a_retrain() -> None:
    """A linear model of one strong feature has learned what it can from 4,000 rows."""
    rng = np.random.default_rng(3)

    def world(n: int) -> pd.DataFrame:
        x = rng.normal(size=n)
        return pd.DataFrame({"x": x, "y": (rng.random(n) < 1 / (1 + np.exp(-3 * x))).astype(int)})

    curve = learning_curve(world(4_000), world(6_000), 4_000, ["x"], _config("linear"))
    assert curve is not None
    assert not curve.worth_retraining, curve
    assert abs(curve.expected_gain) < 0.005


@pytest.mark.slow
def test_the_stated_retrain_cost_moves_the_line() -> None:
    train, evaluation = _world(1_600, 1, 8), _world(6_000, 2, 8)
    features = [f"x{i}" for i in range(8)]
    cheap = learning_curve(train, evaluation, 16_000, features, _config("forest"))
    costly = learning_curve(train, evaluation, 16_000, features, _config("forest", retrain_cost=1.0))
    assert cheap is not None
    assert costly is not None
    assert cheap.expected_gain == pytest.approx(costly.expected_gain)
    assert cheap.worth_retraining
    assert not costly.worth_retraining
    assert costly.threshold == pytest.approx(1.005)


def test_the_verdict_is_a_passing_check_or_the_skip_with_its_reason() -> None:
    from gatekeeper.findings import LearningCurve

    skip = Check(
        "triage.no_degradation", "skip", "the champion performs as it did", diagnosis="no_degradation"
    )

    def curve(gain: float) -> LearningCurve:
        return LearningCurve(
            "roc_auc",
            [1, 2, 3],
            [0.7, 0.72, 0.73],
            3,
            30,
            gain,
            gain - 0.01,
            gain + 0.01,
            0.002,
            gain >= 0.002,
            "test",
        )

    go = value_check(curve(0.012), skip)
    assert go.effect == "none"
    assert "retraining" in go.message
    assert "+0.0120 [+0.0020, +0.0220]" in go.message
    stay = value_check(curve(0.001), skip)
    assert stay.effect == "skip"
    assert stay.diagnosis == "no_degradation"
    assert "not expected to pay for it" in stay.message


def test_too_small_a_reference_draws_no_curve() -> None:
    train, evaluation = _world(150, 1, 8), _world(1_000, 2, 8)  # two sizes of at least 100 rows
    assert learning_curve(train, evaluation, 5_000, [f"x{i}" for i in range(8)], _config("linear")) is None


def _law(m: Any, a: float, b: float, c: float) -> Any:
    return a - b * np.power(m, -c)


def test_the_fit_is_the_least_squares_optimum_within_the_bounds() -> None:
    """Against scipy's curve_fit (which can stop at a local optimum): never a worse fit, and each
    row of a batch of refits fitted as it would be alone."""
    from scipy.optimize import curve_fit

    from gatekeeper.triage.value import _fit_many, _predict

    rng = np.random.default_rng(5)
    sizes = np.floor(np.array([0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 1.0]) * 10_000)
    relative = sizes / sizes.min()
    batch, compared = [], 0
    for _ in range(60):
        scores = 0.8 - rng.uniform(0, 3) * sizes ** -rng.uniform(0.1, 1.5)
        scores = scores + rng.normal(0, rng.choice([1e-4, 1e-3, 1e-2]), len(sizes))
        batch.append(scores)
        ours = float(np.sum((scores - _predict(_fit(sizes, scores), sizes)) ** 2))
        try:
            params, _ = curve_fit(
                _law,
                relative,
                scores,
                p0=(scores.max(), max(np.ptp(scores), 1e-6), 0.5),
                bounds=([-np.inf, 0.0, 0.05], [np.inf, np.inf, 2.0]),
                maxfev=5000,
            )
        except RuntimeError:
            continue
        theirs = float(np.sum((scores - _law(relative, *params)) ** 2))
        assert ours <= theirs * (1 + 1e-4) + 1e-15
        compared += 1
    assert compared >= 50  # curve_fit converged on most: the comparison was made
    a, b, c = _fit_many(sizes, np.array(batch))
    for row, scores in enumerate(batch):
        assert (a[row], b[row], c[row]) == pytest.approx(_fit(sizes, scores))


def test_fits_are_scored_on_at_most_learning_curve_rows_evaluation_rows() -> None:
    """A large evaluation table: each fit is scored on the same seeded sample of
    triage.learning_curve_rows rows, said in the curve's basis; a small one is scored whole."""
    from gatekeeper.triage.value import scored_rows

    evaluation = _world(6_000, 2, 8)
    assert scored_rows(evaluation, 6_000, 1) is evaluation
    sample = scored_rows(evaluation, 1_000, 1)
    assert len(sample) == 1_000
    assert sample.index.is_unique
    assert sample.index.equals(scored_rows(evaluation, 1_000, 1).index)  # the same rows for every fit
    train = _world(1_600, 1, 8)
    features = [f"x{i}" for i in range(8)]
    base = _config("linear")
    config = base.model_copy(update={"triage": base.triage.model_copy(update={"learning_curve_rows": 1_000})})
    curve = learning_curve(train, evaluation, 4_000, features, config)
    assert curve is not None
    assert "a seeded sample of 1000 of the 6000 evaluation rows (triage.learning_curve_rows)" in curve.basis
    whole = learning_curve(train, evaluation, 4_000, features, _config("linear"))
    assert whole is not None
    assert "scored on the 6000 evaluation rows" in whole.basis


def test_the_curve_is_the_same_on_one_thread_or_several() -> None:
    """The fits run side by side on threads (compute.fit_threads, else one per core, one in a fleet);
    each fit is seeded by its rows, so the curve, its interval and its order of points do not move."""
    from gatekeeper.triage.value import fit_workers

    train, evaluation = _world(1_600, 1, 8), _world(3_000, 2, 8)
    features = [f"x{i}" for i in range(8)]
    config = _config("forest")
    one = learning_curve(train, evaluation, 4_000, features, config, workers=1)
    many = learning_curve(train, evaluation, 4_000, features, config, workers=4)
    assert one is not None
    assert one == many
    assert fit_workers(config, 1_600, 7, 1) == 1
    from joblib import cpu_count  # type: ignore[import-untyped]

    assert fit_workers(config, 1_600, 7) == min(cpu_count(), 7)  # the cores this process may use
    assert fit_workers(config, 1_600, 7, 12) == 7  # no more threads than fits
    assert fit_workers(config, 2_000_000, 7) == 1  # fits this large use every core themselves
    pinned = config.model_copy(update={"compute": config.compute.model_copy(update={"fit_threads": 3})})
    assert fit_workers(pinned, 1_600, 7) == 3


# ---------------------------------------------------------------- new labels from a changed world


def linear_any(config: Any) -> Any:
    """A linear model for any task: the curve of a linear world is flat past a few hundred rows."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    return LinearRegression() if config.task == "regression" else LogisticRegression(max_iter=500)


def _linear_world(kind: str, n: int, coefficients: np.ndarray, rng: np.random.Generator, entities: int = 0):
    """A linear relation of four features: `binary` (ROC AUC), `classes` (three, macro ROC AUC) or
    `numeric` (RMSE). With `entities`, rows come in entities that share a random offset (dependent
    rows: 20 rows an entity on average)."""
    x = rng.normal(size=(n, 4))
    signal = x @ coefficients
    if entities:
        signal = signal + rng.normal(0, 1.0, entities)[rng.integers(0, entities, n)]
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(4)])
    if kind == "numeric":
        frame["y"] = signal + rng.normal(0, 0.5, n)
    elif kind == "binary":
        frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    else:
        other = x @ coefficients[::-1]
        logits = np.column_stack([2 * signal, 2 * other, np.zeros(n)])
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        frame["y"] = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    return frame


def _linear_config(kind: str) -> Any:
    numeric = kind == "numeric"
    return make_config(
        target="y",
        segments=[],
        key_segments=[],
        trainer="tests.unit.test_value_of_labels:linear_any",
        task="regression" if numeric else "classification",
        primary_metric="rmse" if numeric else "roc_auc",
        min_improvement=0.05 if numeric else 0.005,  # RMSE of a target with sd ~2
    )


def _changed_world(kind: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Reference rows of an old linear relation; new labels and evaluation rows of a new one."""
    rng = np.random.default_rng(seed)
    old = rng.normal(0, 1, 4)
    new = old + rng.normal(0, 1.2, 4)
    train = _linear_world(kind, 3_000, old, rng)
    return train, _linear_world(kind, 3_000, new, rng), _linear_world(kind, 4_000, new, rng)


@pytest.mark.parametrize("kind", ["binary", "classes", "numeric"])
@pytest.mark.parametrize("seed", [1, 2])
def test_new_labels_from_a_changed_relation_are_worth_a_retrain_the_curve_cannot_see(kind, seed) -> None:
    """The reference follows the old relation; the new labels and the evaluation rows follow a new
    one. More rows like the reference are worth nothing to a linear model (a flat curve), but the
    new labels are: the new rows test says so and the retrain is warranted."""
    train, batch, evaluation = _changed_world(kind, seed)
    features = [f"x{i}" for i in range(4)]
    config = _linear_config(kind)
    alone = learning_curve(train, evaluation, len(batch), features, config)
    assert alone is not None
    assert not alone.worth_retraining, alone  # the curve's premise: new rows like the reference's
    curve = learning_curve(train, evaluation, len(batch), features, config, new_labels=batch)
    assert curve is not None
    assert curve.expected_gain == alone.expected_gain  # the curve itself is unchanged
    test = curve.new_rows_test
    assert test is not None
    assert test.worth_more, test
    assert curve.worth_retraining
    assert test.difference > test.bar >= curve.threshold
    skip = Check("triage.no_degradation", "skip", "the champion has not degraded")
    check = value_check(curve, skip)
    assert check.effect == "none"
    assert "worth more than reference rows" in check.message


@pytest.mark.parametrize("kind", ["binary", "classes", "numeric"])
@pytest.mark.parametrize("entities", [0, 150])
def test_new_labels_from_the_same_world_are_worth_no_more_than_reference_rows(kind, entities) -> None:
    """The same relation throughout (independent rows, or rows of entities sharing an offset): the
    new rows test runs, finds the swapped fit within the fits' own noise, and the skip stands."""
    rng = np.random.default_rng(7)
    coefficients = rng.normal(0, 1, 4)
    train = _linear_world(kind, 3_000, coefficients, rng, entities)
    batch = _linear_world(kind, 3_000, coefficients, rng, entities)
    evaluation = _linear_world(kind, 4_000, coefficients, rng, entities)
    features = [f"x{i}" for i in range(4)]
    curve = learning_curve(train, evaluation, len(batch), features, _linear_config(kind), new_labels=batch)
    assert curve is not None
    test = curve.new_rows_test
    assert test is not None
    assert not test.worth_more, test
    assert not curve.worth_retraining
    skip = Check("triage.no_degradation", "skip", "the champion has not degraded")
    assert value_check(curve, skip).effect == "skip"
    assert "nor are they worth more than reference rows" in value_check(curve, skip).message


def test_new_labels_later_in_a_drifting_world_are_worth_more_than_older_rows() -> None:
    """Time-ordered rows: the relation drifts steadily; the reference is the oldest stretch, the new
    labels the next, the evaluation rows the latest. Rows like the reference's teach the past."""
    rng = np.random.default_rng(11)
    start, drift = rng.normal(0, 1, 4), rng.normal(0, 1.5, 4)
    n = 10_000
    steps = np.linspace(0, 1, n)
    x = rng.normal(size=(n, 4))
    signal = np.einsum("ij,ij->i", x, start + steps[:, None] * drift)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(4)])
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(int)
    train, batch, evaluation = frame.iloc[:4_000], frame.iloc[4_000:7_000], frame.iloc[7_000:]
    features = [f"x{i}" for i in range(4)]
    curve = learning_curve(
        train, evaluation, len(batch), features, _linear_config("binary"), new_labels=batch
    )
    assert curve is not None
    assert curve.new_rows_test is not None
    assert curve.new_rows_test.worth_more, curve.new_rows_test
    assert curve.worth_retraining


def test_the_new_rows_test_is_not_run_when_the_curve_already_pays() -> None:
    rng = np.random.default_rng(3)
    coefficients = rng.normal(0, 1, 4)
    train = _linear_world("binary", 3_000, coefficients, rng)
    config = make_config(
        target="y",
        segments=[],
        key_segments=[],
        trainer="tests.unit.test_value_of_labels:linear_any",
        min_improvement=0.0,
        triage={"retrain_cost": 0.0},  # any gain pays, none at all too
    )
    batch, evaluation = (
        _linear_world("binary", 3_000, coefficients, rng),
        _linear_world("binary", 4_000, coefficients, rng),
    )
    curve = learning_curve(
        train, evaluation, len(batch), [f"x{i}" for i in range(4)], config, new_labels=batch
    )
    assert curve is not None
    assert curve.worth_retraining
    assert curve.new_rows_test is None


@pytest.mark.parametrize("kind", ["binary", "classes", "numeric"])
def test_new_labels_the_champion_already_learned_from_are_not_worth_a_retrain(kind) -> None:
    """The changed world above, but the champion was trained on the reference and these very labels
    (the same batch gated again): a fit with them is worth more than the reference fit, but not
    more than the champion, so the skip stands; a champion of the reference alone leaves the retrain
    warranted."""
    from gatekeeper.stats.rows import PairedRows

    train, batch, evaluation = _changed_world(kind, 4)
    features = [f"x{i}" for i in range(4)]
    config = _linear_config(kind)

    def champion_on_evaluation(rows: pd.DataFrame) -> PairedRows:
        model = linear_any(config).fit(rows[features], rows["y"])
        y = evaluation["y"].to_numpy()
        if kind == "numeric":
            return PairedRows.regression(y, model.predict(evaluation[features]), None)
        classes = sorted(rows["y"].unique().tolist())
        return PairedRows.from_labels(y, model.predict_proba(evaluation[features]), None, classes)

    knows = champion_on_evaluation(pd.concat([train, batch]))
    curve = learning_curve(train, evaluation, len(batch), features, config, new_labels=batch, champion=knows)
    assert curve is not None
    test = curve.new_rows_test
    assert test is not None
    assert test.difference > test.bar  # worth more than reference rows ...
    assert test.over_champion is not None
    assert test.over_champion < test.bar  # ... but the champion has them already
    assert not test.worth_more
    assert not curve.worth_retraining
    naive = champion_on_evaluation(train)
    curve = learning_curve(train, evaluation, len(batch), features, config, new_labels=batch, champion=naive)
    assert curve is not None
    assert curve.new_rows_test is not None
    assert curve.new_rows_test.worth_more
    assert curve.worth_retraining
