"""GateConfig: the one typed configuration of a gate run, loaded from YAML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from gatekeeper.config_errors import config_error_from as config_error_from
from gatekeeper.config_errors import read_yaml_mapping
from gatekeeper.config_sections import MAX_ROWS, _Strict
from gatekeeper.config_sections import Compute as Compute
from gatekeeper.config_sections import DataChecks as DataChecks
from gatekeeper.config_sections import DataPaths as DataPaths
from gatekeeper.config_sections import Discovery as Discovery
from gatekeeper.config_sections import KeySegment as KeySegment
from gatekeeper.config_sections import Lock as Lock
from gatekeeper.config_sections import Prediction as Prediction
from gatekeeper.config_sections import Review as Review
from gatekeeper.config_sections import Scalar as Scalar
from gatekeeper.config_sections import Statistics as Statistics
from gatekeeper.config_sections import SuiteNames as SuiteNames
from gatekeeper.config_sections import Triage as Triage
from gatekeeper.config_sections import Upweight as Upweight
from gatekeeper.config_sections import segment_name as segment_name
from gatekeeper.engines import check_dask_supports
from gatekeeper.errors import ConfigError, did_you_mean
from gatekeeper.metrics import DEFAULT_METRIC, METRICS, metrics_for
from gatekeeper.uris import TrackingUri, parse_model_uri
from gatekeeper.vocabulary import Task


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric{did_you_mean(name, METRICS)}; expected one of {sorted(METRICS)}")
    return name


MetricName = Annotated[str, AfterValidator(_known_metric)]


class PolicyConfig(_Strict):
    """What the decision needs: thresholds, key segments and statistics (no data, no servers)."""

    task: Task = "classification"
    """classification (binary or multi-class) or regression."""
    primary_metric: MetricName = "roc_auc"
    """The metric a promotion is judged on (regression's default: rmse)."""
    secondary_metrics: list[MetricName] = Field(default_factory=list)
    """Also compared and reported, not judged."""
    min_improvement: float = Field(default=0.0, ge=0.0)
    """The gain overall a promotion needs, in the primary metric's units (its interval above zero too)."""
    min_relative_improvement: float = Field(default=0.0, ge=0.0)
    """The same, as a share of the champion's value."""
    absolute_floor: float | None = None
    """The candidate must reach this value, champion or not (also on a bootstrap run)."""
    min_segment_rows: int = Field(default=200, ge=1, le=MAX_ROWS)
    """A segment with fewer evaluation rows is `insufficient_data`."""
    min_class_rows: int = Field(default=20, ge=1, le=MAX_ROWS)
    """A segment needs this many rows of its rarest class for AUC and the class metrics."""
    segments: list[str | list[str]] = Field(default_factory=list)
    """Columns compared per value; a list of columns gives their intersections."""
    key_segments: list[KeySegment] = Field(default_factory=list)
    """Segments that must not regress, each with its own tolerance and actions."""
    statistics: Statistics = Field(default_factory=Statistics)
    """The paired bootstrap and the multiple-test correction."""
    discovery: Discovery = Field(default_factory=Discovery)
    """The search for regressions in subgroups nobody configured."""
    triage: Triage = Field(default_factory=Triage)
    """Is a retrain warranted, are the labels trustworthy, did retraining help."""
    positive_label: Scalar | None = None
    """Binary: the positive class; default the second of the sorted classes."""
    require_approval: bool = False
    """Every promotion waits for a reviewer."""
    time_column: str | None = None
    """Time-ordered data: checks count blocks of time, the bootstrap resamples blocks of time where the
    models' delta stays correlated along it, and the comparison is judged per time fold too. Without
    it the file's own order stands for time (runs of rows where the delta stays correlated along it)."""
    time_folds: int = Field(default=4, ge=2, le=12)
    """Folds of the evaluation rows by `time_column`, oldest first."""
    cluster_column: str | None = None
    """An entity id (customer, device): checks count entities and the bootstrap resamples them."""
    max_churn: float | None = Field(default=None, gt=0, le=1)
    """Share of rows whose predicted class may flip: above it, reject (no clear gain) or review; null:
    reported only."""
    max_gap_increase: float | None = Field(default=None, ge=0)
    """How much the candidate may widen the gap between a segment column's best and worst segment (in
    the primary metric's units): beyond it, review; null: reported only."""

    @model_validator(mode="before")
    @classmethod
    def _regression_default_metric(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("task") in DEFAULT_METRIC and "primary_metric" not in raw:
            return {**raw, "primary_metric": DEFAULT_METRIC[raw["task"]]}
        return raw

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> PolicyConfig:
        for where, metric in [
            ("primary_metric", self.primary_metric),
            *[(f"secondary_metrics[{i}]", m) for i, m in enumerate(self.secondary_metrics)],
        ]:
            if self.task not in METRICS[metric].tasks:
                raise ValueError(
                    f"`{where}` {metric!r} does not fit task {self.task!r}; expected one of "
                    f"{metrics_for(self.task)}"
                )
        return self

    @field_validator("segments")
    @classmethod
    def _segments_not_empty(cls, value: list[str | list[str]]) -> list[str | list[str]]:
        for i, seg in enumerate(value):
            if isinstance(seg, list) and not seg:
                raise ValueError(f"segments[{i}] is an empty list; give one or more columns")
        return value

    @property
    def segment_columns(self) -> list[list[str]]:
        return [[s] if isinstance(s, str) else list(s) for s in self.segments]


class GateConfig(PolicyConfig):
    """Everything one gate run needs. Unknown keys are errors."""

    model_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    """The registered model in MLflow whose `champion` alias the gate moves."""
    tracking_uri: TrackingUri | None = None
    """MLflow; default `$MLFLOW_TRACKING_URI`, else `<workdir>/mlflow.db` (a password is stored and
    logged as ***)."""
    experiment_name: str = "retraining-gate"
    """The MLflow experiment of the gate's runs."""
    target: str = Field(min_length=1)
    """The label column."""
    features: list[str] | None = None
    """Default: every column but `target`, `id_columns` and `time_column`."""
    id_columns: list[str] = Field(default_factory=list)
    """Row ids: never features; named in findings (suspect labels)."""
    data: DataPaths
    """The three tables."""
    expectations: SuiteNames
    """The Great Expectations suites."""
    data_checks: DataChecks = Field(default_factory=DataChecks)
    """The gate's own checks of the new labels against the reference, per segment and slice."""
    trainer: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """`module:function` returning an unfitted estimator; default: the gate's pipeline."""
    train_on_new_labels: bool = True
    """The candidate is trained on `train` + `new_labels` (false: `train` only)."""
    upweight: list[Upweight] = Field(default_factory=list)
    """More weight for a segment's rows in training (a targeted retrain)."""
    random_state: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seeds training."""
    workdir: str = ".gatekeeper"
    """Decisions, quarantine, locks and the default registry (relative to the current folder)."""
    quarantine_dir: str | None = None
    """Where a blocked batch is copied; default `<workdir>/quarantine`."""
    review: Review = Field(default_factory=Review)
    """How a `needs_review` decision is settled."""
    lock: Lock = Field(default_factory=Lock)
    """One gate run per model at a time."""
    candidate: str | None = None
    """A model trained elsewhere (`models:/NAME/N`, `models:/NAME@ALIAS`, `runs:/ID/PATH`): judged, and
    nothing trained."""
    prediction: Prediction = Field(default_factory=Prediction)
    """Which output of a registered model is scored."""
    compute: Compute = Field(default_factory=Compute)
    """Where the evaluation rows are checked, scored and compared."""

    @model_validator(mode="after")
    def _engine_computes_the_policy(self) -> GateConfig:
        if self.compute.engine == "dask":
            try:
                check_dask_supports(
                    self.task,
                    self.primary_metric,
                    self.secondary_metrics,
                    clustered=bool(self.cluster_column or self.time_column),
                )
            except ConfigError as exc:
                raise ValueError(f"`compute.engine` dask: {exc}") from None
        return self

    @field_validator("candidate")
    @classmethod
    def _candidate_is_a_model_uri(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_model_uri(value).uri
        except ConfigError as exc:
            # pydantic's error adds the value seen
            raise ValueError(str(exc).removeprefix("`candidate` ").rsplit("; got ", 1)[0]) from None

    @property
    def resolved_tracking_uri(self) -> str:
        """Config first, then MLFLOW_TRACKING_URI, then a sqlite file in the workdir."""
        if self.tracking_uri:
            return self.tracking_uri
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        return "sqlite:///" + str(Path(self.workdir).resolve() / "mlflow.db")

    @property
    def resolved_quarantine_dir(self) -> Path:
        return Path(self.quarantine_dir or Path(self.workdir) / "quarantine").resolve()

    def suite_path(self, name: str) -> Path:
        return Path(self.expectations.directory) / f"{name}.json"


def _resolve(path: str, base: Path) -> str:
    if "://" in path or Path(path).is_absolute():
        return path
    return str((base / path).resolve())


def parse_config(raw: dict[str, Any], source: str = "config") -> GateConfig:
    """Validate a dict as a GateConfig, raising ConfigError with readable messages."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must hold a mapping of keys; got {type(raw).__name__}")
    try:
        return GateConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error_from(exc, source, GateConfig) from None


def load_config(path: str | os.PathLike[str], **overrides: Any) -> GateConfig:
    """Load YAML, resolve relative data and suite paths against the file's folder."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    raw = dict(raw)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    config = parse_config(raw, source=str(path))
    return resolve_paths(config, path.resolve().parent)


def resolve_paths(config: GateConfig, base: Path) -> GateConfig:
    """Make every relative path absolute so the config means the same in any process."""
    data = config.data.model_copy(
        update={k: _resolve(getattr(config.data, k), base) for k in ("train", "new_labels", "evaluation")}
        | {"allowed_roots": [_resolve(r, base) for r in config.data.allowed_roots]}
    )
    folder = _resolve(config.expectations.directory, base)
    suites = config.expectations.model_copy(update={"directory": folder})
    update: dict[str, Any] = {
        "data": data,
        "expectations": suites,
        "workdir": str(Path(config.workdir).resolve()),
    }
    if config.quarantine_dir:
        update["quarantine_dir"] = str(Path(config.quarantine_dir).resolve())
    if config.tracking_uri and config.tracking_uri.startswith("sqlite:///"):
        db = config.tracking_uri.removeprefix("sqlite:///")
        if not Path(db).is_absolute():
            update["tracking_uri"] = "sqlite:///" + str(Path(db).resolve())
    return config.model_copy(update=update)
