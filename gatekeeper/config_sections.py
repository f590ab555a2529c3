"""The sections of gate.yaml (data, expectations, key segments, statistics, ...), each key with the
docstring the configuration reference is generated from (docs: `configuration.md`)."""

from __future__ import annotations

import ast
import functools
import inspect
import math
import sys
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gatekeeper.vocabulary import Action

Scalar = str | int | float | bool
MAX_ROWS = 10**12  # a row count past any table's: a larger one is a typo, refused at load


class _Strict(BaseModel):
    # defer_build: a model's validator is built when first used, so compare-scores, which uses
    # PolicyConfig only, does not build GateConfig's at import (~25 ms). Attribute docstrings are the
    # keys' descriptions (the generated reference and the deployments' parameter schema;
    # tests/unit/test_docs.py wants one on every key), read by `__pydantic_init_subclass__` below from
    # one parse of each module: pydantic's `use_attribute_docstrings` finds and parses each class's
    # source on its own (~0.12 s of every process's start-up for these ~20 classes).
    # No key takes NaN or an infinity: `absolute_floor: .nan` would reject every candidate.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # before the model is built (defer_build), so its schema carries them
        docs = attribute_docstrings(cls.__module__).get(cls.__qualname__, {})
        for name, field in cls.__pydantic_fields__.items():
            if field.description is None and name in docs:
                field.description = docs[name]


@functools.cache
def attribute_docstrings(module: str) -> dict[str, dict[str, str]]:
    """Each class of `module` (by qualified name): the string literal after each of its annotated
    attributes, as pydantic's `use_attribute_docstrings` reads it, from one parse of the source."""
    found: dict[str, dict[str, str]] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                docs = found.setdefault(prefix + node.name, {})
                for statement, after in zip(node.body, node.body[1:], strict=False):
                    if (
                        isinstance(statement, ast.AnnAssign)
                        and isinstance(statement.target, ast.Name)
                        and isinstance(after, ast.Expr)
                        and isinstance(after.value, ast.Constant)
                        and isinstance(after.value.value, str)
                    ):
                        docs[statement.target.id] = inspect.cleandoc(after.value.value)
                visit(node.body, f"{prefix}{node.name}.")

    try:
        visit(ast.parse(inspect.getsource(sys.modules[module])).body, "")
    except (OSError, TypeError, KeyError):  # no source (a frozen build): keys without descriptions
        return {}
    return found


class DataPaths(_Strict):
    """Where the three tables live: local paths (relative to the config file) or fsspec URLs. A batch
    named from outside the config (an event, --batch) must lie under `allowed_roots`."""

    train: str
    """The data the current champion was trained on: the reference every check compares against."""
    new_labels: str
    """The newly labelled batch that triggered the run."""
    evaluation: str
    """Rows both models are scored on (engine dask: also a folder or a glob of files)."""
    allowed_roots: list[str] = Field(default_factory=list)
    """Where a batch named by an event or `--batch` may lie (folders, URL prefixes); empty: the folder
    of `new_labels`."""
    where: dict[str, Scalar] = Field(default_factory=dict)
    """Only the rows where these columns hold these values, in all three tables (one model of a fleet
    per `region`, say: `{region: north}`); the columns are then no features."""


class SuiteNames(_Strict):
    """Great Expectations 1.x suites, as JSON files `<directory>/<name>.json`, one per table."""

    directory: str = "expectations"
    """The folder of the suites (relative to the config file)."""
    train: str | None = None
    """The suite the reference table must pass."""
    new_labels: str | None = None
    """The suite the new batch must pass, on the whole table and on each key segment's rows."""
    evaluation: str | None = None
    """The suite the evaluation rows must pass (optional)."""

    @model_validator(mode="after")
    def _at_least_one(self) -> SuiteNames:
        if not (self.train or self.new_labels):
            raise ValueError("name a suite for `train` or `new_labels`: validating nothing passes anything")
        return self


class KeySegment(_Strict):
    """A segment that must not regress: `where` selects its rows by column values."""

    where: dict[str, Scalar] = Field(min_length=1)
    """Column values that select the segment's rows, e.g. `{browser: chrome-beta}`."""
    max_regression: float = Field(default=0.0, ge=0.0)
    """How much worse the candidate may be there, in the primary metric's units."""
    on_missing: Literal["block", "pass"] = "block"
    """The segment has no evaluation rows."""
    on_insufficient: Literal["block", "pass"] = "block"
    """Fewer than `min_segment_rows` rows, or the metric is undefined there."""
    on_at_risk: Action = "review"
    """The gain is below the tolerance but the interval reaches above it."""
    on_inconclusive: Action = "pass"
    """The gain is within the tolerance but the interval reaches below it."""

    @property
    def name(self) -> str:
        return segment_name(self.where)


def segment_name(where: dict[str, Any]) -> str:
    """The one spelling of a segment: `col=value & col=value` in the given column order."""
    return " & ".join(f"{col}={value}" for col, value in where.items())


class Statistics(_Strict):
    """How uncertain comparisons are made honest: paired bootstrap and multiple-test correction."""

    confidence_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    """The intervals' confidence level."""
    n_resamples: int = Field(default=1000, ge=100, le=100_000)
    """Paired bootstrap resamples per comparison."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seeds the resampling, so a run can be repeated exactly."""
    correction: Literal["holm", "bh", "none"] = "holm"
    """Across the segment family: Holm (family-wise error), Benjamini-Hochberg (false discovery rate)."""
    bins: int = Field(default=64, ge=8, le=4096)
    """Histogram bins of the per-row influence values the bootstrap resamples."""


class Discovery(_Strict):
    """Search the evaluation rows for subgroups where the candidate is worse than the champion."""

    enabled: bool = True
    """Run the search."""
    max_conditions: int = Field(default=2, ge=1, le=2)
    """One or two feature conditions per subgroup."""
    numeric_bins: int = Field(default=4, ge=2, le=20)
    """Numeric features are cut into this many quantile bins."""
    min_rows: int | None = Field(default=None, ge=20, le=MAX_ROWS)
    """The smallest subgroup searched; default `min_segment_rows`."""
    top_k: int = Field(default=5, ge=1, le=50)
    """How many of the worst subgroups are reported."""
    action: Action = "pass"
    """What a confirmed discovered regression does: block, review or pass (reported only)."""


class DataChecks(_Strict):
    """Per-segment checks of the new batch against the reference; effect sizes, not p-values."""

    min_rows: int = Field(default=30, ge=5, le=MAX_ROWS)
    """A segment or slice needs this many rows in both tables to be checked."""
    max_null_increase: float = Field(default=0.2, gt=0, le=1)
    """Absolute rise of a feature's null rate that blocks."""
    constant_share: float = Field(default=0.99, gt=0.5, le=1)
    """A varying feature turned constant: this share of rows holds one value."""
    max_out_of_range_increase: float = Field(default=0.1, gt=0, le=1)
    """Rise in the share of values far outside the reference range that blocks."""
    range_margin: float = Field(default=1.0, ge=0)
    """"Far": beyond the range by this many times max(width, |median|)."""
    max_new_category_share: float = Field(default=0.1, gt=0, le=1)
    """Share of rows with categories the reference never had that blocks."""
    psi_threshold: float = Field(default=0.25, gt=0)
    """Drift is reported at this population stability index (rows tied by time or entity: and beyond
    the reference's own)."""
    psi_bins: int = Field(default=10, ge=2, le=100)
    """Quantile bins of the PSI."""
    drift_min_rows: int = Field(default=100, ge=10, le=MAX_ROWS)
    """A segment needs this many rows for drift to be measured."""
    label_shift_h: float = Field(default=0.2, gt=0, le=math.pi)
    """Cohen's h of a change in a label's share worth a warning."""
    scored_column: str | None = None
    """A boolean column: was this row scored in production? Labels of never-scored rows are suspect."""
    max_unscored_share: float = Field(default=0.01, ge=0, le=1)
    """The share of never-scored rows that blocks."""
    search_slices: bool = True
    """Search slices nobody configured for broken features and collapsed labels."""
    slice_bins: int = Field(default=4, ge=2, le=20)
    """Numeric columns are cut at the reference's quantiles into this many slices."""
    slice_alpha: float = Field(default=0.01, gt=0, lt=0.5)
    """Family-wise error over every slice and feature the search tests."""
    label_slice_h: float = Field(default=0.8, gt=0, le=math.pi)
    """Cohen's h of a slice's label share: a warning; all one class there: blocked."""


class Upweight(_Strict):
    """Give the rows of a segment more weight when training the candidate (a targeted retrain)."""

    where: dict[str, Scalar] = Field(min_length=1)
    """Column values that select the rows."""
    weight: float = Field(gt=0, le=1e6)
    """Their sample weight (the other rows weigh 1)."""


class Triage(_Strict):
    """Before training: is retraining warranted, are the labels trustworthy; after: did it help?"""

    enabled: bool = True
    """Run triage when a champion exists."""
    force_retrain: bool = False
    """Retrain even when the champion has not degraded."""
    max_degradation: float | None = Field(default=None, ge=0)
    """How much worse than when it was gated the champion may be before a retrain is warranted; null:
    0.01 for a metric on a fixed scale (AUC, accuracy, R², log loss), 1% of the reference value for
    RMSE and MAE (in the target's units)."""
    max_label_noise_increase: float = Field(default=0.10, gt=0, le=1)
    """Suspect-label rate above the trusted rows' that blocks (tied rows: and beyond their highest
    stretch, in 3+ units)."""
    max_conflicting_share: float = Field(default=0.02, gt=0, le=1)
    """Conflicting duplicates beyond what is natural at the batch's size that block."""
    min_rows: int = Field(default=100, ge=10, le=MAX_ROWS)
    """A segment needs this many new labels to be triaged."""
    min_recovery: float = Field(default=0.5, ge=0, le=1)
    """Share of a lost metric a candidate must win back, else concept drift beyond retraining."""
    min_skill_auc: float = Field(default=0.65, ge=0.5, le=1)
    """A weaker champion cannot vouch for labels (classification)."""
    min_skill_r2: float = Field(default=0.3, ge=0, le=1)
    """Regression: the share of the target's variance the champion must explain on the trusted rows
    before its residuals vouch for the new labels."""
    max_label_shift: float = Field(default=0.5, gt=0)
    """Regression: a segment's (or an unconfigured slice's) labels moved this many standard deviations
    of the target where the predictions did not: a label fault, blocked."""
    learning_curve: bool = True
    """Without degradation: estimate what the new labels are worth before skipping a retrain."""
    learning_curve_rows: int = Field(default=50_000, ge=1_000, le=MAX_ROWS)
    """Evaluation rows each of the learning curve's fits is scored on: a seeded sample of this many
    when there are more. The fits are scored on the same rows, so the curve needs their differences:
    on 1,000,000 generated rows a 50,000-row sample moved the expected gain by about 0.0002 (ROC AUC
    and RMSE) against 0.002-0.016 between training subsamples, and a curve took 2.8 s instead of 5.8 s
    (200,000 rows) or 22 s (every row)."""
    retrain_cost: float = Field(default=0.0, ge=0)
    """What a retrain costs, in the primary metric's units: without degradation the expected gain must
    reach `min_improvement` + this."""


class Review(_Strict):
    """How a `needs_review` decision is settled."""

    wait_in_ui: Literal["auto", "always", "never"] = "auto"
    """auto: pause for the approval form in runs of a deployment; always; never (command line only)."""
    timeout_minutes: float = Field(default=24 * 60, gt=0, le=366 * 24 * 60)
    """How long a paused run waits for an answer."""
    on_timeout: Literal["reject", "leave_pending"] = "reject"
    """An unanswered review: rejected (the champion stays), or left for `gatekeeper approve|reject`."""
    reviewers: list[str] = Field(default_factory=list)
    """Who may approve or reject (names as given to `--who` or the form); empty: anyone named. Logged as
    the run's parameter `review.reviewers`, which MLflow does not let anyone change."""


class Lock(_Strict):
    """One gate run per model at a time (a Prefect global concurrency limit keyed by model)."""

    enabled: bool = True
    """Take the model's lock (a Prefect concurrency slot, else a file lock)."""
    wait_minutes: float = Field(default=6 * 60, gt=0, le=366 * 24 * 60)
    """How long a run waits for the lock before it fails, changing nothing."""


class Compute(_Strict):
    """Where the evaluation rows are checked, scored and compared: here, or per partition on Dask."""

    engine: Literal["local", "dask"] = "local"
    """local: in the gate's process; dask: the evaluation rows stay on a cluster as a Dask DataFrame."""
    address: str | None = Field(default=None, pattern=r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")
    """A running scheduler; null: a LocalCluster started for the run."""
    n_workers: int = Field(default=2, ge=1, le=512)
    """LocalCluster workers."""
    memory_limit: str = Field(default="2GiB", pattern=r"^\d+(\.\d+)?\s*([KMGT]i?B|[kmgt]i?b|B)?$")
    """Per LocalCluster worker."""
    sample_rows: int = Field(default=200_000, ge=1_000, le=MAX_ROWS)
    """Evaluation rows brought to the gate's process for what needs rows (label noise, the learning
    curve, discovery); the learning curve scores its fits on fewer (`triage.learning_curve_rows`)."""
    fit_threads: int | None = Field(default=None, ge=1, le=512)
    """The learning curve's fits run side by side on this many threads (each fit of fewer than
    1,000,000 rows on one OpenMP thread, each holding its own fit in memory); null: one per CPU core
    the process may use, and one inside a fleet (whose models already run side by side); 1: one after
    another (a `trainer` that is not thread-safe, or memory is short). The curve is the same whatever
    the number."""


class Prediction(_Strict):
    """Which output of a model the gate scores: the flavor's default, or what is named here."""

    method: Literal["auto", "predict_proba", "predict"] = "auto"
    """auto: predict_proba where the flavor has it, else the pyfunc output read as probabilities (a
    column per class, or one score of the positive class) or as labels."""
    column: str | None = None
    """A pyfunc model's output column holding the positive class's score (binary), e.g.
    `probability`."""
