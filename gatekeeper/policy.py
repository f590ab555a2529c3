"""The decision: a pure function of evidence and config. No I/O here, ever."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gatekeeper.config import GateConfig
from gatekeeper.stats import HIGHER_IS_BETTER, SegmentComparison, relative_change

DecisionValue = Literal["promoted", "rejected", "blocked", "bootstrap", "not_retrained"]
Outcome = Literal["block", "reject"]
PROMOTING: frozenset[str] = frozenset({"promoted", "bootstrap"})


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, where, what was seen against what threshold.

    `outcome` says what a failed, blocking check does to the decision: `block` (the gate
    cannot judge: bad data, missing evidence) or `reject` (the candidate was judged worse).
    """

    check: str
    status: Literal["pass", "fail", "warn"]
    message: str
    segment: str | None = None
    column: str | None = None
    table: str | None = None
    observed: Any = None
    threshold: Any = None
    blocking: bool = False
    outcome: Outcome | None = None

    @property
    def failed_blocking(self) -> bool:
        return self.status == "fail" and self.blocking

    def reason(self) -> dict[str, Any]:
        out = {"check": self.check, "segment": self.segment, "message": self.message}
        for extra in ("column", "table"):
            if getattr(self, extra) is not None:
                out[extra] = getattr(self, extra)
        return out


@dataclass
class Evidence:
    """What the gate measured. `overall` is None when the run stopped before scoring."""

    model_name: str
    primary_metric: str
    champion_version: str | None = None
    candidate_version: str | None = None
    overall: SegmentComparison | None = None
    segments: list[SegmentComparison] = field(default_factory=list)
    key_segments: list[SegmentComparison] = field(default_factory=list)
    validation: list[Check] = field(default_factory=list)
    mlflow_run_id: str | None = None
    prefect_flow_run_id: str | None = None
    quarantine: str | None = None


@dataclass
class Decision:
    """The gate's verdict with everything needed to explain it (serialised as decision.json)."""

    model_name: str
    decision: DecisionValue
    champion_version: str | None
    candidate_version: str | None
    primary_metric: str
    overall: dict[str, Any] | None
    segments: list[dict[str, Any]]
    reasons: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    thresholds: dict[str, Any]
    mlflow_run_id: str | None = None
    prefect_flow_run_id: str | None = None
    quarantine: str | None = None

    @property
    def promotes(self) -> bool:
        return self.decision in PROMOTING

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line a person reads first."""
        head = f"{self.model_name}: {self.decision}"
        if self.candidate_version:
            head += f" (candidate v{self.candidate_version}"
            head += f" vs champion v{self.champion_version})" if self.champion_version else ")"
        return head


# ---------------------------------------------------------------- segment status


def segment_status(
    comparison: SegmentComparison, *, min_rows: int, tolerance: float, min_improvement: float
) -> str:
    """improved / no_change / regressed / insufficient_data / undefined / baseline."""
    primary = comparison.primary
    if primary.n < min_rows:
        return "insufficient_data"
    if primary.undefined_reason:
        return "undefined"
    if primary.champion is None:
        return "baseline"
    g = primary.gain or 0.0
    if g < -tolerance:
        return "regressed"
    if g > 0 and g >= min_improvement:
        return "improved"
    return "no_change"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _segment_row(
    comparison: SegmentComparison, *, key: bool, status: str, tolerance: float | None
) -> dict[str, Any]:
    p = comparison.primary
    row: dict[str, Any] = {
        "segment": comparison.segment,
        "n": p.n,
        "champion": p.champion,
        "candidate": p.candidate,
        "delta": p.delta,
        "key": key,
        "status": status,
    }
    if key:
        row["max_regression"] = tolerance
    if p.undefined_reason:
        row["undefined_reason"] = p.undefined_reason
    if comparison.secondary:
        row["secondary"] = {
            m: {"champion": c.champion, "candidate": c.candidate, "delta": c.delta}
            for m, c in comparison.secondary.items()
        }
    return row


# ---------------------------------------------------------------- decide


def decide(evidence: Evidence, config: GateConfig) -> Decision:
    """Aggregate every check into promoted / rejected / blocked / bootstrap, and say why."""
    metric = evidence.primary_metric
    checks: list[Check] = list(evidence.validation)
    segments: list[dict[str, Any]] = []
    overall_row: dict[str, Any] | None = None

    if evidence.overall is not None:
        overall = evidence.overall.primary
        overall_row = {
            "champion": overall.champion,
            "candidate": overall.candidate,
            "delta": overall.delta,
            "n": overall.n,
        }
        if evidence.overall.secondary:
            overall_row["secondary"] = {
                m: {"champion": c.champion, "candidate": c.candidate, "delta": c.delta}
                for m, c in evidence.overall.secondary.items()
            }
        checks.extend(_overall_checks(evidence, config))
        segments, key_checks = _segment_checks(evidence, config)
        checks.extend(key_checks)

    decision = _aggregate(checks, bootstrap=evidence.champion_version is None)
    failing = [c for c in checks if c.failed_blocking]
    reasons = [c.reason() for c in failing] or [
        c.reason() for c in checks if c.status == "pass" and c.check in _EXPLAINS_PROMOTION
    ]
    return Decision(
        model_name=evidence.model_name,
        decision=decision,
        champion_version=evidence.champion_version,
        candidate_version=evidence.candidate_version,
        primary_metric=metric,
        overall=overall_row,
        segments=segments,
        reasons=reasons,
        warnings=[
            c.reason() for c in checks if c.status in ("warn",) or (c.status == "fail" and not c.blocking)
        ],
        checks=[asdict(c) for c in checks],
        thresholds={
            "min_improvement": config.min_improvement,
            "min_relative_improvement": config.min_relative_improvement,
            "absolute_floor": config.absolute_floor,
            "min_segment_rows": config.min_segment_rows,
            "higher_is_better": HIGHER_IS_BETTER[metric],
        },
        mlflow_run_id=evidence.mlflow_run_id,
        prefect_flow_run_id=evidence.prefect_flow_run_id,
        quarantine=evidence.quarantine,
    )


_EXPLAINS_PROMOTION = {"overall_improvement", "absolute_floor", "key_segment_regression", "bootstrap"}


def _aggregate(checks: list[Check], *, bootstrap: bool) -> DecisionValue:
    failing = [c for c in checks if c.failed_blocking]
    if any(c.check.startswith("validation") for c in failing):
        return "blocked"
    if any(c.outcome == "reject" for c in failing):
        return "rejected"
    if failing:
        return "blocked"
    return "bootstrap" if bootstrap else "promoted"


def _judgement(
    check: str, ok: bool, message: str, *, observed: Any, threshold: Any, segment: str = "overall"
) -> Check:
    """A check that rejects the candidate when it fails."""
    return Check(
        check,
        "pass" if ok else "fail",
        message,
        segment=segment,
        observed=observed,
        threshold=threshold,
        blocking=True,
        outcome="reject",
    )


def _overall_checks(evidence: Evidence, config: GateConfig) -> list[Check]:
    assert evidence.overall is not None
    p = evidence.overall.primary
    m = p.metric
    out: list[Check] = []
    if p.undefined_reason or p.candidate is None:
        out.append(
            Check(
                "overall_metric_defined",
                "fail",
                f"{m} is undefined on the evaluation rows: {p.undefined_reason}",
                segment="overall",
                blocking=True,
                outcome="block",
            )
        )
        return out
    if config.absolute_floor is not None:
        ok = (
            p.candidate >= config.absolute_floor
            if HIGHER_IS_BETTER[m]
            else p.candidate <= config.absolute_floor
        )
        word = "at least" if HIGHER_IS_BETTER[m] else "at most"
        out.append(
            _judgement(
                "absolute_floor",
                ok,
                f"candidate {m} {p.candidate:.4f} must be {word} {config.absolute_floor:.4f}",
                observed=p.candidate,
                threshold=config.absolute_floor,
            )
        )
    if evidence.champion_version is None:
        out.append(
            Check(
                "bootstrap",
                "pass",
                f"no champion yet: candidate {m} {p.candidate:.4f} becomes the first champion",
                segment="overall",
                observed=p.candidate,
            )
        )
        return out
    if p.delta is None or p.champion is None:
        out.append(
            Check(
                "overall_metric_defined",
                "fail",
                f"champion {m} is undefined: {p.undefined_reason}",
                segment="overall",
                blocking=True,
                outcome="block",
            )
        )
        return out
    g = p.gain or 0.0
    ok = g > 0 and g >= config.min_improvement
    verb = "improved" if g > 0 else ("did not change" if g == 0 else "got worse")
    out.append(
        _judgement(
            "overall_improvement",
            ok,
            f"{m} {verb}: {p.champion:.4f} -> {p.candidate:.4f} (delta {p.delta:+.4f}; "
            f"promotion needs an improvement of at least {config.min_improvement:.4f})",
            observed=p.delta,
            threshold=config.min_improvement,
        )
    )
    if config.min_relative_improvement > 0:
        rel = relative_change(m, p.champion, p.candidate)
        out.append(
            _judgement(
                "overall_relative_improvement",
                rel >= config.min_relative_improvement,
                f"{m} relative change {rel:+.2%} (needs at least {config.min_relative_improvement:.2%})",
                observed=rel,
                threshold=config.min_relative_improvement,
            )
        )
    return out


def _segment_checks(evidence: Evidence, config: GateConfig) -> tuple[list[dict[str, Any]], list[Check]]:
    keys = {k.name: k for k in config.key_segments}
    key_cmp = {c.segment: c for c in evidence.key_segments}
    rows: list[dict[str, Any]] = []
    checks: list[Check] = []
    seen: set[str] = set()
    for cmp in [*evidence.segments, *evidence.key_segments]:
        if cmp.segment in seen:
            continue
        seen.add(cmp.segment)
        key = keys.get(cmp.segment)
        if key is not None:
            cmp = key_cmp.get(cmp.segment, cmp)
        tol = key.max_regression if key else config.min_improvement
        status = segment_status(
            cmp, min_rows=config.min_segment_rows, tolerance=tol, min_improvement=config.min_improvement
        )
        rows.append(_segment_row(cmp, key=key is not None, status=status, tolerance=tol if key else None))
    metric = evidence.primary_metric
    for name, key in keys.items():
        cmp = key_cmp.get(name)
        n = cmp.n if cmp else 0
        if n == 0:
            checks.append(
                Check(
                    "key_segment_missing",
                    "fail",
                    f"key segment {name} has no rows in the evaluation "
                    "data, so the gate cannot tell whether it regressed",
                    segment=name,
                    observed=0,
                    threshold=config.min_segment_rows,
                    blocking=key.on_missing == "block",
                    outcome="block",
                )
            )
            continue
        assert cmp is not None
        p = cmp.primary
        if n < config.min_segment_rows or p.undefined_reason:
            why = (
                f"{n} rows, fewer than min_segment_rows={config.min_segment_rows}"
                if n < config.min_segment_rows
                else f"{metric} undefined: {p.undefined_reason}"
            )
            checks.append(
                Check(
                    "key_segment_insufficient_data",
                    "fail",
                    f"not enough evidence on key segment {name}: {why}",
                    segment=name,
                    observed=n,
                    threshold=config.min_segment_rows,
                    blocking=key.on_insufficient == "block",
                    outcome="block",
                )
            )
            continue
        if p.delta is None:  # bootstrap: nothing to regress from
            continue
        g = p.gain or 0.0
        fell = -g
        ok = g >= -key.max_regression
        msg = (
            f"{metric} fell {fell:.4f} (tolerance {key.max_regression:.4f})"
            if g < 0
            else f"{metric} {'rose' if g > 0 else 'held'} {abs(g):.4f} (tolerance {key.max_regression:.4f})"
        )
        checks.append(
            _judgement(
                "key_segment_regression",
                ok,
                msg,
                observed=p.delta,
                threshold=key.max_regression,
                segment=name,
            )
        )
    return rows, checks
