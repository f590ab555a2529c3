"""Load a registered model version in its own flavor and make it scoreable by the gate.

scikit-learn, XGBoost and LightGBM models load natively (their `predict_proba` gives class
probabilities); every other flavor loads as `mlflow.pyfunc`, whose output is read as a
probability per class, one score of the positive class, or class labels
(`gatekeeper.train.models.output_kind`). Before anything is scored, the model's logged
signature is checked against the evaluation columns, the model is tried on a few evaluation
rows, and a model that gives only labels is refused when a configured metric needs scores.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatekeeper.config import GateConfig
from gatekeeper.errors import ModelError
from gatekeeper.metrics import METRICS
from gatekeeper.train.models import LoadedModel, output_kind, signature_problems

NATIVE = ("sklearn", "xgboost", "lightgbm")
EXTRAS = {"xgboost": "xgboost", "lightgbm": "lightgbm"}
PROBE_ROWS = 64
logger = logging.getLogger(__name__)

# Models pickled before the package was laid out by stage name functions by their old module
# (cloudpickle stores `gatekeeper.training.as_object_text` by reference): keep them loadable.
LEGACY_MODULES = {
    "gatekeeper.training": "gatekeeper.train.pipeline",
    "gatekeeper.simulate": "gatekeeper.demo.simulate",
}


def _alias_legacy_modules() -> None:
    import sys

    for old, new in LEGACY_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)


@dataclass(frozen=True)
class Flavored:
    """A downloaded model: its flavors, its logged input signature, the native object if loadable."""

    path: str
    flavors: list[str]
    flavor: str  # the flavor it was loaded with
    native: Any
    inputs: list[tuple[str, str, bool]] | None  # (column, MLflow type, required), when logged


def _signature_inputs(meta: Any) -> list[tuple[str, str, bool]] | None:
    signature = getattr(meta, "signature", None)
    schema = getattr(signature, "inputs", None)
    if schema is None or not schema.has_input_names():
        return None
    out = []
    for spec in schema.inputs:
        kind = getattr(getattr(spec, "type", None), "name", None) or type(spec).__name__
        out.append((str(spec.name), str(kind), bool(getattr(spec, "required", True))))
    return out


def open_model(path: str, uri: str) -> Flavored:
    """Read the MLmodel file at `path` and load the model in the first native flavor it has."""
    from mlflow.models import Model

    meta = Model.load(path)
    flavors = list(meta.flavors)
    _alias_legacy_modules()
    for name in NATIVE:
        if name not in flavors:
            continue
        try:
            module = importlib.import_module(f"mlflow.{name}")
            native = module.load_model(path)
        except ImportError as exc:
            extra = EXTRAS.get(name, name)
            raise ModelError(
                f"{uri} is a {name} model, and {name} is not installed here ({exc}); install the gate's "
                f"extra: pip install -e '.[{extra}]'"
            ) from None
        return Flavored(path, flavors, name, native, _signature_inputs(meta))
    if "python_function" not in flavors:
        raise ModelError(f"{uri} has flavors {flavors} and no python_function flavor: MLflow cannot score it")
    return Flavored(path, flavors, "python_function", None, _signature_inputs(meta))


def _pyfunc(flavored: Flavored) -> Any:
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(flavored.path)


def _features(flavored: Flavored, default: list[str], tagged: list[str] | None) -> list[str]:
    """Signature first, then the gate's own record, then what the estimator was fitted on."""
    if flavored.inputs:
        return [name for name, _, _ in flavored.inputs]
    if tagged:
        return list(tagged)
    names = getattr(flavored.native, "feature_names_in_", None)
    if names is not None and len(names):
        return [str(n) for n in names]
    return list(default)


def scoreable(
    flavored: Flavored,
    uri: str,
    config: GateConfig,
    classes: list[Any],
    sample: pd.DataFrame,
    default_features: list[str],
    gate_classes: list[Any] | None = None,
    gate_features: list[str] | None = None,
    require_columns: bool = True,
) -> tuple[LoadedModel, list[str]]:
    """The model as the gate scores it, with its feature columns; every problem a ModelError, found
    on `sample` (a few evaluation rows) before anything is scored.

    `gate_classes` / `gate_features` are the gate's own record of a version it registered.
    Without `require_columns` (the champion) missing columns are scored as missing values.
    """
    features = _features(flavored, default_features, gate_features)
    if flavored.inputs:
        problems = signature_problems(flavored.inputs, sample)
        if not require_columns:  # the champion: a column the data lost is scored as missing, with a warning
            problems = [p for p in problems if not p.startswith("missing column")]
        if problems:
            raise ModelError(
                f"{uri} (flavor {flavored.flavor}) has a logged signature that does not fit the evaluation "
                f"data: {'; '.join(problems)}"
            )
    missing = [f for f in features if f not in sample.columns]
    if not require_columns:
        if missing:
            logger.warning(
                "%s needs columns the evaluation data lacks, scored as missing: %s", uri, missing[:10]
            )
        sample = sample.reindex(columns=list(dict.fromkeys([*sample.columns, *features])))
    elif missing:
        raise ModelError(
            f"{uri} (flavor {flavored.flavor}) needs columns the evaluation data lacks: {missing[:10]}"
        )
    method, column = config.prediction.method, config.prediction.column
    native = flavored.native
    regression = config.task == "regression"
    if (
        not regression
        and method != "predict"
        and native is not None
        and hasattr(native, "predict_proba")
        and hasattr(native, "classes_")
    ):
        model_classes = [c.item() if hasattr(c, "item") else c for c in native.classes_]
        _check_classes(uri, flavored.flavor, model_classes, classes)
        model = LoadedModel(
            native.predict_proba,
            model_classes,
            "probabilities",
            f"{uri} (flavor {flavored.flavor}, predict_proba)",
        )
    else:
        if method == "predict_proba" and native is not None and not hasattr(native, "predict_proba"):
            raise ModelError(
                f"{uri} (flavor {flavored.flavor}) has no predict_proba "
                "(`prediction.method: predict_proba`); use method auto to read its pyfunc output"
            )
        use_native = native is not None and (method == "predict" or regression)
        predict = native.predict if use_native else _pyfunc(flavored).predict
        flavor = flavored.flavor if use_native else "python_function"
        source = f"{uri} (flavor {flavor}, predict)"
        model_classes = [] if regression else list(gate_classes or classes)
        raw = _try(predict, sample[features], source)
        kind = output_kind(raw, model_classes, column, source)
        if method == "predict_proba" and kind == "labels":
            raise ModelError(f"{source} returns class labels, not probabilities (`prediction.method`)")
        positive = 1
        if config.positive_label is not None and len(model_classes) == 2:
            names = [str(c) for c in model_classes]
            positive = names.index(str(config.positive_label)) if str(config.positive_label) in names else 1
        model = LoadedModel(predict, model_classes, kind, source, positive, column)
    _try(model.predict_proba if not regression else model.predict, sample[features], model.source)
    if not regression and not model.gives_scores:
        needing = [m for m in [config.primary_metric, *config.secondary_metrics] if METRICS[m].needs_scores]
        if needing:
            raise ModelError(
                f"{model.source} gives class labels only, and {needing} need scores (probabilities); choose "
                "metrics that use labels (accuracy, balanced_accuracy, precision, recall, f1) or log a model "
                "that returns probabilities"
            )
    return model, features


def _check_classes(uri: str, flavor: str, model_classes: list[Any], classes: list[Any]) -> None:
    known = {str(c) for c in model_classes}
    if classes and not known & {str(c) for c in classes}:
        raise ModelError(
            f"{uri} (flavor {flavor}) predicts classes {model_classes[:10]}, none of which is a value of the "
            f"target in the data ({classes[:10]}): was it trained on encoded labels?"
        )


def _try(fn: Any, frame: pd.DataFrame, source: str) -> Any:
    try:
        return fn(frame)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{source} failed on {len(frame)} evaluation rows: {type(exc).__name__}: {str(exc)[:400]}"
        ) from exc


def data_classes(*targets: pd.Series) -> list[Any]:
    """The classes a target takes across tables, sorted, as plain Python values."""
    values = pd.concat([t.dropna() for t in targets], ignore_index=True)
    return [v.item() if hasattr(v, "item") else v for v in np.unique(values.to_numpy())]
