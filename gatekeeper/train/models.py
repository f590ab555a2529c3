"""The models a gate run compares, as plain values, and their outputs on a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from gatekeeper.errors import ModelError
from gatekeeper.findings import ChampionReference
from gatekeeper.metrics import Array


@dataclass(frozen=True)
class TrainedModel:
    """A fitted estimator with what is needed to score it: its features and label classes."""

    model: Any
    features: list[str]
    classes: list[Any]
    version: str | None = None
    n_train: int = 0
    reference: ChampionReference | None = None  # what this model scored when it was gated (or adopted)
    flavor: str | None = None  # the MLflow flavor it was loaded with (None: trained in this run)
    record: str | None = None  # the gate's record of a registered version: "gated", "adopted", "untrusted"
    custody: tuple[str, ...] = ()  # why a champion is not in the gate's custody (moved or edited outside it)
    example: Any = None  # a few training rows of the features (the logged model's input example)

    @property
    def needs_adoption(self) -> bool:
        """A registered version with no gate record (promoted by hand before the gate existed)."""
        return self.version is not None and self.record is None


def model_outputs(model: Any, X: pd.DataFrame, classes: list[Any]) -> Array:
    """Class probabilities aligned to `classes`, or predictions when `classes` is empty (regression)."""
    if not classes:
        return np.asarray(model.predict(X), dtype=float)
    return predict_proba_aligned(model, X, classes)


def predict_proba_aligned(model: Any, X: pd.DataFrame, classes: list[Any]) -> Array:
    """Class probabilities with columns in `classes` order (missing classes get 0)."""
    proba = np.asarray(model.predict_proba(X), dtype=float)
    model_classes = [str(c) for c in model.classes_]
    out = np.zeros((len(X), len(classes)))
    for j, c in enumerate(classes):
        if str(c) in model_classes:
            out[:, j] = proba[:, model_classes.index(str(c))]
    return out


# ---------------------------------------------------------------- models trained elsewhere

OutputKind = Literal["probabilities", "score", "labels", "values"]


def _as_frame(raw: Any) -> pd.DataFrame:
    if isinstance(raw, pd.DataFrame):
        return raw
    if isinstance(raw, pd.Series):
        return raw.to_frame()
    array = np.asarray(raw)
    if array.ndim == 1:
        return pd.DataFrame({0: array})
    if array.ndim == 2:
        return pd.DataFrame(array)
    raise ModelError(f"the model returned an array of shape {array.shape}; expected one or two dimensions")


def _numeric(frame: pd.DataFrame) -> bool:
    return all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in frame.dtypes)


def output_kind(raw: Any, classes: list[Any], column: str | None, source: str) -> OutputKind:
    """What a model's output holds, from a first look at it: a probability per class, one score of
    the positive class (binary), class labels, or (regression, no classes) values."""
    frame = _as_frame(raw)
    if not classes:
        if frame.shape[1] != 1 and column is None:
            raise ModelError(
                f"{source} returned {frame.shape[1]} columns {list(frame.columns)[:10]}; a regression gate "
                "needs one prediction per row: name it with `prediction.column`"
            )
        return "values"
    names = [str(c) for c in classes]
    if column is not None:
        if str(column) not in [str(c) for c in frame.columns]:
            raise ModelError(
                f"{source} has no output column {column!r} (`prediction.column`); its columns are "
                f"{[str(c) for c in frame.columns][:20]}"
            )
        if len(classes) != 2:
            raise ModelError(
                f"`prediction.column` names one score, which fits two classes; the data has {len(classes)} "
                f"({names[:10]}): let the model return a probability per class"
            )
        return "score"
    if frame.shape[1] >= 2:
        labelled = {str(c) for c in frame.columns} >= set(names)
        if (labelled or frame.shape[1] == len(classes)) and _numeric(frame):
            return "probabilities"
        raise ModelError(
            f"{source} returned {frame.shape[1]} columns {[str(c) for c in frame.columns][:10]}, which are "
            f"neither a probability per class ({names[:10]}) nor one score; name the positive class's score "
            "with `prediction.column`"
        )
    values = frame.iloc[:, 0]
    seen = set(values.dropna().astype(str))
    if seen <= set(names) or not pd.api.types.is_numeric_dtype(values):
        return "labels"
    if len(classes) == 2 and pd.api.types.is_float_dtype(values):
        return "score"
    raise ModelError(
        f"{source} returned one numeric column whose values are not the classes {names[:10]}; expected a "
        "probability per class, one probability of the positive class (two classes) or class labels"
    )


def read_output(
    raw: Any, classes: list[Any], kind: OutputKind, positive: int, column: str | None, source: str
) -> Array:
    """The output as (n, k) probabilities in `classes` order (one-hot for labels), or (n,) values."""
    frame = _as_frame(raw)
    if kind == "values":
        values = frame[column] if column is not None else frame.iloc[:, 0]
        return np.asarray(values, dtype=float)
    k = len(classes)
    if kind == "probabilities":
        by_name = {str(c): c for c in frame.columns}
        if isinstance(raw, pd.DataFrame) and all(str(c) in by_name for c in classes):
            frame = frame[[by_name[str(c)] for c in classes]]
        proba = np.asarray(frame, dtype=float)
    elif kind == "score":
        score = np.asarray(frame[column] if column is not None else frame.iloc[:, 0], dtype=float)
        check_unit_interval(score, source)
        proba = np.zeros((len(score), k))
        proba[:, positive], proba[:, 1 - positive] = score, 1 - score
    else:
        codes = pd.Index([str(c) for c in classes]).get_indexer(frame.iloc[:, 0].astype(str))
        if (codes < 0).any():
            unknown = sorted(set(frame.iloc[:, 0][codes < 0].astype(str)))[:5]
            raise ModelError(f"{source} predicted labels {unknown} that are not the classes {classes}")
        proba = np.zeros((len(codes), k))
        proba[np.arange(len(codes)), codes] = 1.0
    if kind == "probabilities":
        check_unit_interval(proba, source)
    return proba


def check_unit_interval(values: Array, source: str) -> None:
    """ModelError when scores are not probabilities: non-finite, or outside [0, 1]."""
    if not values.size:
        return
    finite = np.isfinite(values)
    if not finite.all() or values.min() < -1e-9 or values.max() > 1 + 1e-9:
        raise ModelError(
            f"{source} returned scores outside [0, 1] (min {np.nanmin(values):.4g}, max "
            f"{np.nanmax(values):.4g}, {int((~finite).sum())} not finite); the gate needs probabilities: "
            "log a model whose output is a probability, or name it with `prediction.column`"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A model from the registry, scored through one of its outputs (any flavor).

    `predict_fn` is the flavor's `predict_proba` (kind "probabilities") or its `predict`;
    `classes_` are the classes its probabilities are for, in column order.
    """

    predict_fn: Any
    classes_: list[Any]
    kind: OutputKind
    source: str  # "models:/name/3 (flavor lightgbm, predict_proba)"
    positive: int = 1
    column: str | None = None

    def _read(self, X: pd.DataFrame) -> Array:
        raw = self.predict_fn(X)
        return read_output(raw, self.classes_, self.kind, self.positive, self.column, self.source)

    def predict_proba(self, X: pd.DataFrame) -> Array:
        return self._read(X)

    def predict(self, X: pd.DataFrame) -> Array:
        out = self._read(X)
        if self.kind == "values":
            return out
        labels: Array = np.asarray(self.classes_, dtype=object)[np.argmax(out, axis=1)]
        return labels

    def fit(self, *args: Any, **kwargs: Any) -> LoadedModel:
        """A registered model is judged as it is, never refitted (here so that scikit-learn's
        model-inspection tools accept it as an estimator)."""
        raise ModelError(f"{self.source} is a registered model: the gate does not refit it")

    @property
    def gives_scores(self) -> bool:
        """Scores (probabilities) rather than hard labels: what AUC, log loss and Brier need."""
        return self.kind in ("probabilities", "score")


_NUMERIC_TYPES = {"integer", "long", "float", "double"}
_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"}


def signature_problems(inputs: list[tuple[str, str, bool]], frame: pd.DataFrame) -> list[str]:
    """Where the evaluation columns do not fit a model's logged input signature (column, MLflow type,
    required): missing columns and types that cannot be given as logged. Empty when they fit."""
    problems = []
    missing = [name for name, _, required in inputs if required and name not in frame.columns]
    if missing:
        problems.append(f"missing column(s) {missing[:10]}")
    for name, kind, _ in inputs:
        if name not in frame.columns:
            continue
        column = frame[name]
        dtype = column.dtype
        if kind in _NUMERIC_TYPES:
            ok = pd.api.types.is_numeric_dtype(dtype) or (
                pd.api.types.is_object_dtype(dtype)
                and pd.api.types.infer_dtype(column, skipna=True) in _NUMERIC_INFERRED
            )
        elif kind == "string":
            ok = not pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_datetime64_any_dtype(dtype)
        elif kind == "boolean":
            ok = pd.api.types.is_bool_dtype(dtype) or (
                pd.api.types.is_object_dtype(dtype)
                and pd.api.types.infer_dtype(column, skipna=True) in ("boolean", "empty")
            )
        elif kind == "datetime":
            ok = pd.api.types.is_datetime64_any_dtype(dtype)
        else:
            continue
        if not ok:
            problems.append(f"column {name!r} is {dtype} in the data; the signature expects {kind}")
    return problems
