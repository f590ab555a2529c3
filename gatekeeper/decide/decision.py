"""Evidence in, Decision out: typed values end to end, one serialiser and one reader.

`decision.json` is `decision_to_dict` of a `Decision`, with `schema_version`. `read_decision`
reads every version this code has written: version 1 (no `schema_version`; checks carried
`status`, `blocking` and `outcome` instead of one `effect`) is migrated; a newer version than
this code knows is a clear `DecisionFormatError`, never a silent misreading.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.compare.segments import Comparison
from gatekeeper.errors import DecisionFormatError
from gatekeeper.findings import (
    ChampionReference,
    ClassRecall,
    DiscoveredRegression,
    DriftResult,
    RelationChange,
    Review,
    TriageFindings,
)
from gatekeeper.serialize import jsonable
from gatekeeper.stats.bootstrap import SegmentComparison
from gatekeeper.vocabulary import PROMOTING, Check, DecisionValue, DiagnosisKind, Effect, SegmentStatus

SCHEMA_VERSION = 3  # 3: p_regressed / p_improved named p_value_regressed / p_value_improved


@dataclass(frozen=True)
class Evidence:
    """What the gate measured. `overall` is None when the run stopped before scoring."""

    model_name: str
    primary_metric: str
    champion_version: str | None = None
    candidate_version: str | None = None
    overall: SegmentComparison | None = None
    segments: list[SegmentComparison] = field(default_factory=list)
    key_segments: list[SegmentComparison] = field(default_factory=list)
    discovered: list[DiscoveredRegression] = field(default_factory=list)
    time_folds: list[SegmentComparison] = field(default_factory=list)  # oldest first
    checks: list[Check] = field(default_factory=list)  # validation and triage findings
    drift: list[DriftResult] = field(default_factory=list)
    triage: TriageFindings = field(default_factory=TriageFindings)
    reference: ChampionReference | None = None  # the champion's performance when it was gated
    relation_changes: list[RelationChange] = field(default_factory=list)
    mlflow_run_id: str | None = None
    prefect_flow_run_id: str | None = None
    quarantine: str | None = None


@dataclass(frozen=True)
class MetricComparison:
    """A secondary metric on one segment."""

    champion: float | None = None
    candidate: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    undefined_reason: str | None = None


@dataclass(frozen=True)
class SegmentResult:
    """One row of the evidence table: a segment's primary metric, interval and status."""

    segment: str
    n: int
    status: SegmentStatus
    champion: float | None = None
    candidate: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    key: bool = False
    max_regression: float | None = None
    p_value_regressed: float | None = None  # corrected p-value of `regressed` (small: evidence)
    p_value_improved: float | None = None  # corrected p-value of `improved` (not a probability of it)
    undefined_reason: str | None = None
    method: str | None = None
    secondary: dict[str, MetricComparison] = field(default_factory=dict)
    rows_needed: int | None = None
    rows_needed_for_effect: float | None = None
    churn: float | None = None  # share of rows whose predicted class flips (classification)
    class_recall: list[ClassRecall] = field(default_factory=list)  # per class, champion vs candidate


@dataclass(frozen=True)
class Reason:
    """A check as a person reads it: which, where, and what was seen."""

    check: str
    segment: str | None
    message: str
    column: str | None = None
    table: str | None = None

    @classmethod
    def of(cls, check: Check) -> Reason:
        return cls(check.check, check.segment, check.message, check.column, check.table)

    def text(self, code: bool = False) -> str:
        """`check [segment]: message`, the check in backticks for markdown when `code`."""
        name = f"`{self.check}`" if code else self.check
        where = f" [{self.segment}]" if self.segment else ""
        return f"{name}{where}: {self.message}"


@dataclass(frozen=True)
class Diagnosis:
    """Why retraining will not help (or was not needed), with what to do about it."""

    kind: DiagnosisKind
    evidence: str
    feature: str | None = None
    segment: str | None = None
    observed: Any = None
    advice: str | None = None


@dataclass(frozen=True)
class Thresholds:
    min_improvement: float
    min_relative_improvement: float
    absolute_floor: float | None
    min_segment_rows: int
    higher_is_better: bool
    min_class_rows: int = 0  # a class with fewer rows in a segment is not ranked among what drives it


@dataclass(frozen=True)
class Decision:
    """The gate's verdict with everything needed to explain it (serialised as decision.json)."""

    model_name: str
    decision: DecisionValue
    champion_version: str | None
    candidate_version: str | None
    primary_metric: str
    thresholds: Thresholds
    overall: SegmentResult | None = None
    segments: list[SegmentResult] = field(default_factory=list)
    reasons: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    correction: str = "none"
    confidence_level: float = 0.95
    n_resamples: int = 0
    discovered_regressions: list[DiscoveredRegression] = field(default_factory=list)
    diagnosis: list[Diagnosis] = field(default_factory=list)
    drift: list[DriftResult] = field(default_factory=list)
    triage: TriageFindings = field(default_factory=TriageFindings)
    mlflow_run_id: str | None = None
    prefect_flow_run_id: str | None = None
    quarantine: str | None = None
    review: Review | None = None
    time_folds: list[SegmentResult] = field(default_factory=list)  # the comparison per time fold
    # the champion carried no gate record (promoted by hand) and this run recorded its reference
    champion_adopted: bool = False
    # where an external candidate came from (its MLflow model URI); None when the gate trained it
    candidate_source: str | None = None
    schema_version: int = SCHEMA_VERSION

    @property
    def promotes(self) -> bool:
        return self.decision in PROMOTING

    def summary(self) -> str:
        """One line a person reads first."""
        head = f"{self.model_name}: {self.decision}"
        if self.candidate_version:
            head += f" (candidate v{self.candidate_version}"
            head += f" vs champion v{self.champion_version})" if self.champion_version else ")"
        return head

    def champion_reference(self) -> ChampionReference | None:
        """What the candidate scored here: the reference a later run's triage compares against."""
        if self.overall is None or self.overall.candidate is None:
            return None
        return ChampionReference(
            metric=self.primary_metric,
            overall=self.overall.candidate,
            segments={
                s.segment: s.candidate
                for s in self.segments
                if s.candidate is not None and s.status not in ("insufficient_data", "undefined")
            },
            rows={"overall": self.overall.n, **{s.segment: s.n for s in self.segments}},
        )


# ---------------------------------------------------------------- the one serialiser and reader


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """decision.json's content: JSON-safe (NaN -> null, numpy -> Python)."""
    out: dict[str, Any] = jsonable(dataclasses.asdict(decision))
    return out


def decision_to_json(decision: Decision) -> str:
    return json.dumps(decision_to_dict(decision), indent=2) + "\n"


def read_decision(data: str | bytes | dict[str, Any], source: str = "decision.json") -> Decision:
    """A Decision from decision.json (any version this code wrote), or DecisionFormatError."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise DecisionFormatError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DecisionFormatError(f"{source} must hold a JSON object; got {type(data).__name__}")
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise DecisionFormatError(f"{source}: `schema_version` must be a positive integer; got {version!r}")
    if version > SCHEMA_VERSION:
        raise DecisionFormatError(
            f"{source} was written with decision schema_version {version}; this gatekeeper reads up to "
            f"{SCHEMA_VERSION}: upgrade gatekeeper to read it"
        )
    if version == 1:
        data = _migrate_v1(data)
    if version < 3:
        data = _migrate_v2(data)
    try:
        decision: Decision = _build(Decision, data)
        return decision
    except (TypeError, ValueError, KeyError) as exc:
        raise DecisionFormatError(f"{source} is not a readable gate decision: {exc}") from None


def _effect_v1(check: dict[str, Any]) -> Effect:
    """Version 1 spelled one thing three ways: status pass/warn/fail, blocking, outcome."""
    status = check.get("status")
    if status == "pass":
        return "none"
    if status == "fail" and check.get("blocking"):
        outcome = check.get("outcome") or "block"
        return typing.cast(Effect, outcome)
    return "warn"


def _migrate_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Versions 1 and 2 named two p-values as if they were probabilities: `p_regressed`, `p_improved`."""
    renames = {"p_regressed": "p_value_regressed", "p_improved": "p_value_improved"}

    def renamed(row: Any) -> Any:
        if not isinstance(row, dict):
            return row
        return {renames.get(k, k): v for k, v in row.items()}

    out = dict(data)
    out["overall"] = renamed(out.get("overall"))
    for key in ("segments", "time_folds"):
        if isinstance(out.get(key), list):
            out[key] = [renamed(row) for row in out[key]]
    out["schema_version"] = SCHEMA_VERSION
    return out


def _migrate_v1(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    out["checks"] = [
        {
            **{k: v for k, v in c.items() if k not in ("status", "blocking", "outcome")},
            "effect": _effect_v1(c),
        }
        for c in data.get("checks") or []
    ]
    if out.get("overall") is not None:
        out["overall"] = {"segment": "overall", "key": False, **out["overall"]}
    if not out.get("thresholds"):
        out["thresholds"] = {}
    out["thresholds"] = {
        "min_improvement": 0.0,
        "min_relative_improvement": 0.0,
        "absolute_floor": None,
        "min_segment_rows": 1,
        "higher_is_better": True,
        **out["thresholds"],
    }
    out["triage"] = out.get("triage") or {}
    out["schema_version"] = SCHEMA_VERSION
    return out


def _build(kind: Any, value: Any) -> Any:
    """`value` (parsed JSON) as an instance of the type `kind`: dataclasses, lists, dicts, optionals."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _build(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item,) = typing.get_args(kind)
        return [_build(item, v) for v in value]
    if origin is dict:
        _, item = typing.get_args(kind)
        return {str(k): _build(item, v) for k, v in value.items()}
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}; got {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{k: _build(hints[k], v) for k, v in value.items() if k in known})
    return value


def with_comparison(evidence: Evidence, comparison: Comparison) -> Evidence:
    """The evidence with the paired comparisons of champion and candidate added."""
    return dataclasses.replace(
        evidence,
        overall=comparison.overall,
        segments=comparison.segments,
        key_segments=comparison.key_segments,
        discovered=comparison.discovered,
        time_folds=comparison.time_folds,
    )
