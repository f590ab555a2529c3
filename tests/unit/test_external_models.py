"""Models trained elsewhere, the pure parts: URIs, reading any model's output, signatures, adoption."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.errors import ConfigError, ModelError
from gatekeeper.metrics import estimate
from gatekeeper.stats.rows import PairedRows
from gatekeeper.train.models import LoadedModel, output_kind, read_output, signature_problems
from gatekeeper.triage.recovery import as_context
from gatekeeper.triage.reference import reference_of
from gatekeeper.uris import parse_model_uri
from gatekeeper.vocabulary import Check
from tests.builders import make_config
from tests.fuzzing import examples

SOURCE = "models:/m/2 (flavor python_function, predict)"


@pytest.mark.parametrize(
    ("uri", "kind", "fields"),
    [
        ("models:/churn/12", "version", {"name": "churn", "version": "12"}),
        ("models:/churn@challenger", "alias", {"name": "churn", "alias": "challenger"}),
        ("models:/team.churn-v2@champion", "alias", {"name": "team.churn-v2", "alias": "champion"}),
        ("runs:/0123456789abcdef0123456789abcdef/model", "run", {"path": "model"}),
        ("runs:/0123456789abcdef0123456789abcdef/nested/model/", "run", {"path": "nested/model"}),
        ("  models:/churn/3 ", "version", {"version": "3"}),
    ],
)
def test_model_uris_in_every_form(uri: str, kind: str, fields: dict[str, str]) -> None:
    parsed = parse_model_uri(uri)
    assert parsed.kind == kind
    assert {k: getattr(parsed, k) for k in fields} == fields


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("models:/churn", "a model name alone is ambiguous"),
        ("models:/m-0a1b2c3d", "a logged model id is not a registered version"),
        ("churn/3", ""),
        ("runs:/not-a-run-id/model", ""),
        ("models:/churn/latest", ""),
        ("s3://bucket/model", ""),
    ],
)
def test_other_text_is_a_config_error_naming_the_field_the_forms_and_the_value(uri: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_model_uri(uri)
    text = str(caught.value)
    assert text.startswith("`candidate` must be an MLflow model URI of the form models:/<name>/<version>")
    assert text.endswith(f"got {uri!r}")
    assert hint in text


def test_the_config_checks_the_candidate_when_it_is_read() -> None:
    assert make_config(candidate="models:/churn@challenger").candidate == "models:/churn@challenger"
    with pytest.raises(ConfigError, match=r"`candidate`: must be an MLflow model URI.*got 'churn'"):
        make_config(candidate="churn")


# ---------------------------------------------------------------- reading a model's output


def test_a_probability_per_class_in_any_column_order_when_the_columns_are_named() -> None:
    raw = pd.DataFrame({"pro": [0.7, 0.1], "basic": [0.2, 0.3], "family": [0.1, 0.6]})
    classes = ["basic", "family", "pro"]
    assert output_kind(raw, classes, None, SOURCE) == "probabilities"
    np.testing.assert_allclose(
        read_output(raw, classes, "probabilities", 1, None, SOURCE), [[0.2, 0.1, 0.7], [0.3, 0.6, 0.1]]
    )


def test_an_unnamed_array_is_read_in_the_models_class_order() -> None:
    raw = np.array([[0.9, 0.1], [0.4, 0.6]])
    # integer classes 1, 0 must not be matched against the array's column positions 0, 1
    np.testing.assert_allclose(read_output(raw, [1, 0], "probabilities", 1, None, SOURCE), raw)


@pytest.mark.parametrize("positive", [0, 1])
def test_one_score_is_the_positive_class(positive: int) -> None:
    raw = pd.DataFrame({"probability": [0.8, 0.25], "label": ["yes", "no"]})
    classes = ["no", "yes"]
    assert output_kind(raw, classes, "probability", SOURCE) == "score"
    proba = read_output(raw, classes, "score", positive, "probability", SOURCE)
    np.testing.assert_allclose(proba[:, positive], [0.8, 0.25])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_a_bare_float_column_is_a_score_and_class_values_are_labels() -> None:
    assert output_kind(np.array([0.2, 0.7]), [0, 1], None, SOURCE) == "score"
    assert output_kind(np.array([0, 1, 1]), [0, 1], None, SOURCE) == "labels"
    assert output_kind(pd.Series(["no", "yes"]), ["no", "yes"], None, SOURCE) == "labels"
    onehot = read_output(pd.Series(["yes", "no"]), ["no", "yes"], "labels", 1, None, SOURCE)
    np.testing.assert_array_equal(onehot, [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("raw", "classes", "column", "expected"),
    [
        (pd.DataFrame({"a": [0.1], "b": [0.2], "c": [0.7]}), [0, 1], None, "neither a probability per class"),
        (np.array([2.5, 3.1]), ["x", "y", "z"], None, "not the classes"),
        (pd.DataFrame({"p": [0.3]}), ["x", "y"], "probability", "has no output column 'probability'"),
        (pd.DataFrame({"p": [0.3]}), ["x", "y", "z"], "p", "fits two classes; the data has 3"),
        (np.zeros((2, 2, 2)), [0, 1], None, "shape (2, 2, 2)"),
    ],
)
def test_outputs_that_cannot_be_read_say_what_was_seen(
    raw: object, classes: list[object], column: str | None, expected: str
) -> None:
    with pytest.raises(ModelError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        output_kind(raw, classes, column, SOURCE)


def test_scores_outside_zero_one_are_refused_and_unknown_labels_named() -> None:
    with pytest.raises(ModelError, match=r"scores outside \[0, 1\] \(min -1.2, max 3"):
        read_output(np.array([-1.2, 3.0]), [0, 1], "score", 1, None, SOURCE)
    with pytest.raises(ModelError, match=r"predicted labels \['maybe'\] that are not the classes"):
        read_output(pd.Series(["yes", "maybe"]), ["no", "yes"], "labels", 1, None, SOURCE)


def test_a_loaded_model_predicts_labels_from_what_it_reads() -> None:
    model = LoadedModel(lambda X: pd.DataFrame({"p": X["x"] / 10}), ["no", "yes"], "score", SOURCE, 1, "p")
    X = pd.DataFrame({"x": [1.0, 9.0]})
    assert list(model.predict(X)) == ["no", "yes"]
    assert model.gives_scores
    with pytest.raises(ModelError, match="does not refit"):
        model.fit(X, None)


@settings(max_examples=examples(50), deadline=None)
@given(k=st.integers(2, 6), n=st.integers(1, 40), seed=st.integers(0, 10_000))
def test_named_probability_columns_are_realigned_whatever_their_order(k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k), size=n)
    classes = [f"c{i}" for i in range(k)]
    order = rng.permutation(k)
    raw = pd.DataFrame(proba[:, order], columns=[classes[i] for i in order])
    assert output_kind(raw, classes, None, SOURCE) == "probabilities"
    np.testing.assert_allclose(read_output(raw, classes, "probabilities", 1, None, SOURCE), proba)


# ---------------------------------------------------------------- signatures


def test_signature_problems_name_missing_columns_and_wrong_types() -> None:
    frame = pd.DataFrame({"age": [31, 40], "city": ["a", "b"], "score": [0.1, 0.2], "seen": [True, False]})
    fits = [
        ("age", "long", True),
        ("city", "string", True),
        ("score", "double", True),
        ("seen", "boolean", True),
    ]
    assert signature_problems(fits, frame) == []
    problems = signature_problems(
        [("age", "string", True), ("city", "double", True), ("tenure", "long", True), ("opt", "long", False)],
        frame,
    )
    assert problems == [
        "missing column(s) ['tenure']",
        "column 'age' is int64 in the data; the signature expects string",
        f"column 'city' is {frame['city'].dtype} in the data; the signature expects double",
    ]
    # numbers stored as objects (a CSV with a few blanks) still fit a numeric signature
    assert (
        signature_problems([("x", "double", True)], pd.DataFrame({"x": pd.Series([1.5, None], dtype=object)}))
        == []
    )


# ---------------------------------------------------------------- adoption and sunk candidates


def test_the_adopted_reference_is_the_champions_metric_overall_and_per_segment() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    frame = pd.DataFrame({"region": rng.choice(["a", "b", "tiny"], n, p=[0.6, 0.38, 0.02])})
    y = (rng.random(n) < 0.3).astype(int)
    score = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1)
    proba = np.column_stack([1 - score, score])
    rows = PairedRows.from_labels(y, proba, None, [0, 1])
    config = make_config(segments=["region"], min_segment_rows=200)
    reference = reference_of(frame, rows, config)
    assert reference is not None
    assert reference.metric == "roc_auc"
    assert reference.overall == pytest.approx(estimate("roc_auc", rows.targets, proba).value)
    assert set(reference.segments) == {"region=a", "region=b"}, "segments below min_segment_rows are left out"
    a = np.flatnonzero(frame["region"].to_numpy() == "a")
    assert reference.segments["region=a"] == pytest.approx(
        estimate("roc_auc", rows.take(a).targets, proba[a]).value
    )
    assert reference.rows["region=a"] == len(a)
    # one class only: undefined overall, nothing to adopt
    assert reference_of(frame, PairedRows.from_labels(np.zeros(n, int), proba, None, [0, 1]), config) is None


def test_a_sunk_candidate_makes_triage_skips_context_and_keeps_blocks() -> None:
    skip = Check("triage.no_degradation", "skip", "the champion performs as it did", advice="nothing to do")
    block = Check("labels.flipped", "block", "labels flipped in segment x")
    context = as_context(skip)
    assert context.effect == "warn"
    assert "trained elsewhere" in context.message
    assert context.message.endswith(skip.message)
    assert as_context(block) is block


def test_a_models_pip_requirements_name_the_packages_its_objects_come_from() -> None:
    """Registration lists requirements read from the model's objects (MLflow's inference imports the
    model in a subprocess, ~4 s a registration); an XGBoost step adds xgboost's distribution. The
    default pipeline's FunctionTransformer calls this package's `as_object_text`, but registration
    pickles the package's functions by value, so no serving environment is asked to install it
    (an integration test loads such a model where `gatekeeper` cannot be imported)."""
    import xgboost
    from sklearn.pipeline import Pipeline

    from gatekeeper.registry.requirements import pip_requirements
    from gatekeeper.train.pipeline import build_default_pipeline

    frame = pd.DataFrame({"a": np.arange(60.0), "b": ["x", "y", "z"] * 20})
    y = np.arange(60) % 2
    default = build_default_pipeline(make_config()).fit(frame, y)
    names = {r.split("==")[0] for r in pip_requirements(default)}
    assert {"scikit-learn", "numpy", "pandas", "cloudpickle", "mlflow"} <= names
    assert "retraining-gatekeeper" not in names
    assert not any(n.startswith("xgboost") for n in names)
    boosted = Pipeline([("model", xgboost.XGBClassifier(n_estimators=2))]).fit(frame[["a"]], y)
    assert any(r.startswith(("xgboost-cpu==", "xgboost==")) for r in pip_requirements(boosted))
