"""GateConfig: the one typed configuration of a gate run, loaded from YAML."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gatekeeper.config_errors import config_error_from as config_error_from
from gatekeeper.config_errors import read_yaml_mapping
from gatekeeper.engines import check_dask_supports
from gatekeeper.errors import ConfigError, did_you_mean
from gatekeeper.metrics import DEFAULT_METRIC, METRICS, metrics_for
from gatekeeper.uris import TrackingUri, parse_model_uri
from gatekeeper.vocabulary import Action, Task


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric{did_you_mean(name, METRICS)}; expected one of {sorted(METRICS)}")
    return name


MetricName = Annotated[str, AfterValidator(_known_metric)]
Scalar = str | int | float | bool


class _Strict(BaseModel):
    # defer_build: a model's validator is built when first used, so compare-scores, which uses
    # PolicyConfig only, does not build GateConfig's at import (~25 ms)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DataPaths(_Strict):
    """Where the three tables live: local paths (relative to the config file) or fsspec URLs. A batch
    named from outside the config (an event, --batch) must lie under `allowed_roots` (folders or URL
    prefixes; default: the folder of `new_labels`)."""

    train: str = Field(description="The data the current champion was trained on (reference).")
    new_labels: str = Field(description="The newly labelled batch that triggered the run.")
    evaluation: str = Field(description="Rows both champion and candidate are scored on.")
    allowed_roots: list[str] = Field(default_factory=list)


class SuiteNames(_Strict):
    """Great Expectations suites (file stem in `directory`) for each table."""

    directory: str = "expectations"
    train: str | None = None
    new_labels: str | None = None
    evaluation: str | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> SuiteNames:
        if not (self.train or self.new_labels):
            raise ValueError("name a suite for `train` or `new_labels`: validating nothing passes anything")
        return self


class KeySegment(_Strict):
    """A segment that must not regress: `where` selects its rows by column values."""

    where: dict[str, Scalar] = Field(min_length=1)
    max_regression: float = Field(default=0.0, ge=0.0)
    on_missing: Literal["block", "pass"] = "block"
    on_insufficient: Literal["block", "pass"] = "block"
    on_at_risk: Action = "review"
    on_inconclusive: Action = "pass"

    @property
    def name(self) -> str:
        return segment_name(self.where)


def segment_name(where: dict[str, Any]) -> str:
    """The one spelling of a segment: `col=value & col=value` in the given column order."""
    return " & ".join(f"{col}={value}" for col, value in where.items())


class Statistics(_Strict):
    """How uncertain comparisons are made honest: paired bootstrap and multiple-test correction."""

    confidence_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    n_resamples: int = Field(default=1000, ge=100, le=100_000)
    seed: int = 0
    correction: Literal["holm", "bh", "none"] = "holm"
    bins: int = Field(default=64, ge=8, le=4096)


class Discovery(_Strict):
    """Search the evaluation rows for subgroups where the candidate is worse than the champion."""

    enabled: bool = True
    max_conditions: int = Field(default=2, ge=1, le=2)
    numeric_bins: int = Field(default=4, ge=2, le=20)
    min_rows: int | None = Field(default=None, ge=20)
    top_k: int = Field(default=5, ge=1, le=50)
    action: Action = "pass"


class DataChecks(_Strict):
    """Per-segment checks of the new batch against the reference; effect sizes, not p-values."""

    min_rows: int = Field(default=30, ge=5)
    max_null_increase: float = Field(default=0.2, gt=0, le=1)
    constant_share: float = Field(default=0.99, gt=0.5, le=1)
    max_out_of_range_increase: float = Field(default=0.1, gt=0, le=1)
    range_margin: float = Field(default=1.0, ge=0)
    max_new_category_share: float = Field(default=0.1, gt=0, le=1)
    psi_threshold: float = Field(default=0.25, gt=0)
    psi_bins: int = Field(default=10, ge=2, le=100)
    drift_min_rows: int = Field(default=100, ge=10)
    label_shift_h: float = Field(default=0.2, gt=0)
    scored_column: str | None = None
    max_unscored_share: float = Field(default=0.01, ge=0, le=1)
    # the search for broken features in slices nobody configured (gatekeeper.data.slices)
    search_slices: bool = True
    slice_bins: int = Field(default=4, ge=2, le=20)
    slice_alpha: float = Field(default=0.01, gt=0, lt=0.5)
    label_slice_h: float = Field(default=0.8, gt=0)  # Cohen's h of a slice's label share worth a warning


class Upweight(_Strict):
    """Give the rows of a segment more weight when training the candidate (a targeted retrain)."""

    where: dict[str, Scalar] = Field(min_length=1)
    weight: float = Field(gt=0)


class Triage(_Strict):
    """Before training: is retraining warranted, are the labels trustworthy; after: did it help?"""

    enabled: bool = True
    force_retrain: bool = False
    # how much worse than when it was gated the champion may be before retraining is warranted; None:
    # 0.01 for a metric on a fixed scale (AUC, accuracy, R^2, log loss), 1% of the champion's reference
    # value for one in the target's units (RMSE, MAE), where an absolute 0.01 means nothing
    max_degradation: float | None = Field(default=None, ge=0)
    max_label_noise_increase: float = Field(default=0.10, gt=0, le=1)
    max_conflicting_share: float = Field(default=0.02, gt=0, le=1)
    min_rows: int = Field(default=100, ge=10)
    min_recovery: float = Field(default=0.5, ge=0, le=1)
    min_skill_auc: float = Field(default=0.65, ge=0.5, le=1)
    # numbers: the champion must explain this share of the target's variance on the trusted rows (R^2)
    # before its residuals vouch for the new labels
    min_skill_r2: float = Field(default=0.3, ge=0, le=1)
    # numbers: a segment's labels moved by this many standard deviations of the target against the
    # champion's predictions, where its predictions did not, is a label fault (relative to the target)
    max_label_shift: float = Field(default=0.5, gt=0)
    # before skipping a retrain for lack of degradation: what would the new labels be worth?
    learning_curve: bool = True
    # what a retrain costs, in the primary metric's units: the expected gain must exceed
    # min_improvement + retrain_cost for a retrain without degradation
    retrain_cost: float = Field(default=0.0, ge=0)


class Review(_Strict):
    """How a `needs_review` decision is settled when the gate runs from a deployment."""

    # auto: pause for an answer in the Prefect UI when the run comes from a deployment; never: CLI only
    wait_in_ui: Literal["auto", "always", "never"] = "auto"
    timeout_minutes: float = Field(default=24 * 60, gt=0)
    # an unanswered review: rejected (the champion stays), or left pending for `gatekeeper approve`
    on_timeout: Literal["reject", "leave_pending"] = "reject"
    # who may approve or reject (names as given to --who or the form); empty: anyone who names themselves.
    # Logged as the run's parameter review.reviewers, which MLflow does not let anyone change afterwards.
    reviewers: list[str] = Field(default_factory=list)


class Lock(_Strict):
    """One gate run per model at a time (a Prefect global concurrency limit keyed by model)."""

    enabled: bool = True
    wait_minutes: float = Field(default=6 * 60, gt=0)


class Compute(_Strict):
    """Where the evaluation rows are checked, scored and compared: here (`local`), or per partition on
    a Dask cluster (a LocalCluster of `n_workers`, or the scheduler at `address`) reading them lazily;
    `sample_rows` come here for the label-noise baseline, the learning curve and discovery."""

    engine: Literal["local", "dask"] = "local"
    address: str | None = Field(default=None, pattern=r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")
    n_workers: int = Field(default=2, ge=1, le=512)
    memory_limit: str = Field(default="2GiB", pattern=r"^\d+(\.\d+)?\s*([KMGT]i?B|[kmgt]i?b|B)?$")
    sample_rows: int = Field(default=200_000, ge=1_000)


class Prediction(_Strict):
    """Which output of a model the gate scores: the flavor's default, or what is named here."""

    # auto: predict_proba where the flavor has it, else the pyfunc output read as probabilities
    # (a column per class, or one score of the positive class) or as labels
    method: Literal["auto", "predict_proba", "predict"] = "auto"
    # a pyfunc model's output column holding the positive class's score (binary), e.g. "probability";
    # models with a native predict_proba (sklearn, xgboost, lightgbm) use that unless method is predict
    column: str | None = None


class PolicyConfig(_Strict):
    """What the decision needs: thresholds, key segments and statistics (no data, no servers)."""

    task: Task = "classification"
    primary_metric: MetricName = "roc_auc"
    secondary_metrics: list[MetricName] = Field(default_factory=list)
    min_improvement: float = Field(default=0.0, ge=0.0)
    min_relative_improvement: float = Field(default=0.0, ge=0.0)
    absolute_floor: float | None = None
    min_segment_rows: int = Field(default=200, ge=1)
    min_class_rows: int = Field(default=20, ge=1)
    segments: list[str | list[str]] = Field(default_factory=list)
    key_segments: list[KeySegment] = Field(default_factory=list)
    statistics: Statistics = Field(default_factory=Statistics)
    discovery: Discovery = Field(default_factory=Discovery)
    triage: Triage = Field(default_factory=Triage)
    positive_label: Scalar | None = None
    require_approval: bool = False
    # time-ordered data: the comparison is judged per fold of the evaluation rows too (newest last)
    time_column: str | None = None
    time_folds: int = Field(default=4, ge=2, le=12)
    # rows that share an entity (a customer, a device): the paired bootstrap resamples entities
    cluster_column: str | None = None
    # the share of rows whose decision may flip between champion and candidate (None: reported only)
    max_churn: float | None = Field(default=None, gt=0, le=1)
    # how much the candidate may widen the gap between a segment column's best and worst segment
    # (in the primary metric's units; None: reported only)
    max_gap_increase: float | None = Field(default=None, ge=0)

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
    tracking_uri: TrackingUri | None = None  # stored or logged with any password as ***
    experiment_name: str = "retraining-gate"
    target: str = Field(min_length=1)
    features: list[str] | None = None
    id_columns: list[str] = Field(default_factory=list)
    data: DataPaths
    expectations: SuiteNames
    data_checks: DataChecks = Field(default_factory=DataChecks)
    trainer: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    train_on_new_labels: bool = True
    upweight: list[Upweight] = Field(default_factory=list)
    random_state: int = 0
    workdir: str = ".gatekeeper"
    quarantine_dir: str | None = None
    review: Review = Field(default_factory=Review)
    lock: Lock = Field(default_factory=Lock)
    # a candidate trained elsewhere (an MLflow model URI): the gate judges it and trains nothing
    candidate: str | None = None
    prediction: Prediction = Field(default_factory=Prediction)
    compute: Compute = Field(default_factory=Compute)

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
