"""The decision: a pure function of evidence and config. No I/O here, ever.

Comparisons are judged on paired bootstrap intervals, not point estimates. For a delta with
tolerance t (a key segment's `max_regression`; 0 elsewhere), with gain = delta oriented so
that positive is better and the interval at the configured level:

- `regressed`     the whole interval lies below -t
- `at_risk`       the gain is below -t but the interval reaches above it
- `inconclusive`  the gain is at or above -t but the interval reaches below it
- `improved`      the interval lies above 0 and the gain is at least `min_improvement`
- `no_change`     otherwise
- `insufficient_data` (fewer than `min_segment_rows`), `undefined` (the metric cannot be
  computed there), `baseline` (no champion yet).

Segment statuses are corrected for multiple testing across the segment family (Holm or
Benjamini-Hochberg on the bootstrap tail probabilities behind `regressed` and `improved`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from gatekeeper.config import Action, KeySegment, PolicyConfig
from gatekeeper.paired import PairedDelta, SegmentComparison
from gatekeeper.stats import HIGHER_IS_BETTER, relative_change

DecisionValue = Literal["promoted", "rejected", "blocked", "bootstrap", "not_retrained", "needs_review"]
Outcome = Literal["block", "reject", "review", "skip"]
PROMOTING: frozenset[str] = frozenset({"promoted", "bootstrap"})
POWER = 0.8
DEFAULT_EFFECT = 0.01  # the change a rows-needed estimate aims at when no tolerance is configured
CLASS_SENSITIVE = frozenset(
    {"roc_auc", "average_precision", "precision", "recall", "f1", "balanced_accuracy"}
)


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, where, what was seen against what threshold.

    `outcome` says what a failed, blocking check does to the decision: `block` (the gate
    cannot judge: bad data, missing evidence), `reject` (the candidate was judged worse) or
    `review` (a person must decide).
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
    diagnosis: str | None = None
    advice: str | None = None

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
    discovered: list[dict[str, Any]] = field(default_factory=list)
    validation: list[Check] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    triage: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None  # the champion's performance when it was gated
    relation_changes: list[dict[str, Any]] = field(default_factory=list)
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
    correction: str = "none"
    confidence_level: float = 0.95
    n_resamples: int = 0
    discovered_regressions: list[dict[str, Any]] = field(default_factory=list)
    diagnosis: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    triage: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    prefect_flow_run_id: str | None = None
    quarantine: str | None = None
    review: dict[str, Any] | None = None

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


# ---------------------------------------------------------------- statistics of one delta


def tail_probability(gains: np.ndarray, threshold: float, upper: bool) -> float:
    """Bootstrap P(gain* >= threshold) (upper) or P(gain* <= threshold).

    The plain fraction of resamples where it has 10 or more of them; beyond that resolution,
    the normal tail with the resamples' mean and standard deviation.
    """
    hits = int(np.count_nonzero(gains >= threshold if upper else gains <= threshold))
    if hits >= 10:
        return hits / len(gains)
    sd = float(np.std(gains))
    if sd == 0:
        mean = float(np.mean(gains))
        return float((mean >= threshold) if upper else (mean <= threshold))
    z = (float(np.mean(gains)) - threshold) / sd
    return NormalDist().cdf(z) if upper else NormalDist().cdf(-z)


def adjust(p_values: list[float], method: str) -> list[float]:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) adjusted p-values."""
    m = len(p_values)
    if m == 0 or method == "none":
        return list(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            adjusted[i] = running
    elif method == "bh":
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, min(1.0, m * p_values[i] / (rank + 1)))
            adjusted[i] = running
    else:
        raise ValueError(f"unknown correction {method!r}; expected holm, bh or none")
    return adjusted


@dataclass
class Judged:
    """A delta with its status and the numbers behind it."""

    status: str
    ci_low: float | None = None
    ci_high: float | None = None
    p_regressed: float | None = None
    p_improved: float | None = None


def raw_p_values(delta: PairedDelta, tolerance: float) -> tuple[float, float] | None:
    """(P*(gain >= -t), P*(gain <= 0)): small values support `regressed` / `improved`."""
    gains = delta.gains()
    if gains is None or delta.gain is None:
        return None
    return tail_probability(gains, -tolerance, upper=True), tail_probability(gains, 0.0, upper=False)


def judge(
    delta: PairedDelta,
    *,
    min_rows: int,
    tolerance: float,
    min_improvement: float,
    level: float,
    p_values: tuple[float, float] | None = None,
    min_class_rows: int = 1,
) -> Judged:
    """Status of one delta; `p_values` may carry family-adjusted values from `raw_p_values`."""
    if delta.n < min_rows or too_few_of_a_class(delta.metric, delta.minority, min_class_rows):
        return Judged("insufficient_data", *delta.interval(level))
    if delta.undefined_reason:
        return Judged("undefined")
    if delta.champion is None or delta.resamples is None or delta.gain is None:
        return Judged("baseline")
    lo, hi = delta.interval(level)
    p_reg, p_imp = p_values or raw_p_values(delta, tolerance)  # type: ignore[misc]
    half = (1 - level) / 2
    gain = delta.gain
    gains = delta.gains()
    assert gains is not None
    if p_reg < half:
        status = "regressed"
    elif p_imp < half and gain > 0 and gain >= min_improvement:
        status = "improved"
    elif gain < -tolerance:
        status = "at_risk"
    elif float(np.quantile(gains, half)) < -tolerance:
        status = "inconclusive"
    else:
        status = "no_change"
    return Judged(status, lo, hi, p_reg, p_imp)


def rows_needed(sd: float | None, effect: float, level: float, power: float = POWER) -> int | None:
    """Rows for a paired comparison to detect `effect` at `level` with `power` (normal approximation)."""
    if sd is None or effect <= 0 or not math.isfinite(sd):
        return None
    z = NormalDist().inv_cdf(1 - (1 - level) / 2) + NormalDist().inv_cdf(power)
    return math.ceil((z * sd / effect) ** 2)


# ---------------------------------------------------------------- decide


def decide(evidence: Evidence, config: PolicyConfig) -> Decision:
    """Aggregate every check into a decision, and say why."""
    metric = evidence.primary_metric
    stats = config.statistics
    checks: list[Check] = list(evidence.validation)
    segments: list[dict[str, Any]] = []
    overall_row: dict[str, Any] | None = None
    if evidence.overall is not None:
        overall = evidence.overall.primary
        verdict = judge(
            overall,
            min_rows=1,
            tolerance=0.0,
            min_improvement=config.min_improvement,
            level=stats.confidence_level,
        )
        overall_row = _row(evidence.overall, verdict, key=False, tolerance=None, level=stats.confidence_level)
        overall_row.pop("segment")
        overall_row.pop("key")
        checks.extend(_overall_checks(evidence, config, verdict))
        segments, segment_checks = _segment_checks(evidence, config)
        checks.extend(segment_checks)
        checks.extend(_discovery_checks(evidence, config))
        checks.extend(_recovery_checks(evidence, config))
        if config.require_approval and evidence.candidate_version is not None:
            checks.append(
                Check(
                    "approval_required",
                    "fail",
                    "the config requires a person to approve every promotion (`require_approval: true`)",
                    blocking=True,
                    outcome="review",
                )
            )

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
            c.reason() for c in checks if c.status == "warn" or (c.status == "fail" and not c.blocking)
        ],
        checks=[asdict(c) for c in checks],
        thresholds={
            "min_improvement": config.min_improvement,
            "min_relative_improvement": config.min_relative_improvement,
            "absolute_floor": config.absolute_floor,
            "min_segment_rows": config.min_segment_rows,
            "higher_is_better": HIGHER_IS_BETTER[metric],
        },
        correction=stats.correction,
        confidence_level=stats.confidence_level,
        n_resamples=stats.n_resamples,
        discovered_regressions=list(evidence.discovered),
        diagnosis=_diagnosis(checks),
        drift=sorted([d for d in evidence.drift if d.get("drifted")], key=lambda d: -d["psi"])[:50],
        triage=dict(evidence.triage),
        mlflow_run_id=evidence.mlflow_run_id,
        prefect_flow_run_id=evidence.prefect_flow_run_id,
        quarantine=evidence.quarantine,
    )


def _diagnosis(checks: list[Check]) -> list[dict[str, Any]]:
    """What a person can act on: each diagnosed finding with its evidence and advice."""
    return [
        {
            "kind": c.diagnosis,
            "feature": c.column,
            "segment": c.segment,
            "evidence": c.message,
            "observed": c.observed,
            "advice": c.advice,
        }
        for c in checks
        if c.diagnosis and c.status == "fail"
    ]


_EXPLAINS_PROMOTION = {"overall_improvement", "absolute_floor", "key_segment_regression", "bootstrap"}


def _aggregate(checks: list[Check], *, bootstrap: bool) -> DecisionValue:
    failing = [c for c in checks if c.failed_blocking]
    if any(c.check.startswith("validation") for c in failing):
        return "blocked"
    if any(c.outcome == "reject" for c in failing):
        return "rejected"
    if any(c.outcome == "block" for c in failing):
        return "blocked"
    if any(c.outcome == "review" for c in failing):
        return "needs_review"
    if failing:  # only `skip`: triage found nothing retraining would fix
        return "not_retrained"
    return "bootstrap" if bootstrap else "promoted"


def _fmt_ci(lo: float | None, hi: float | None, level: float) -> str:
    if lo is None or hi is None:
        return ""
    return f", {level:.0%} CI [{lo:+.4f}, {hi:+.4f}]"


def _row(
    cmp: SegmentComparison, verdict: Judged, *, key: bool, tolerance: float | None, level: float
) -> dict[str, Any]:
    p = cmp.primary
    row: dict[str, Any] = {
        "segment": cmp.segment,
        "n": p.n,
        "champion": p.champion,
        "candidate": p.candidate,
        "delta": p.delta,
        "ci_low": verdict.ci_low,
        "ci_high": verdict.ci_high,
        "key": key,
        "status": verdict.status,
    }
    if key:
        row["max_regression"] = tolerance
    if verdict.p_regressed is not None:
        row["p_regressed"] = verdict.p_regressed
        row["p_improved"] = verdict.p_improved
    if p.undefined_reason:
        row["undefined_reason"] = p.undefined_reason
    if p.method:
        row["method"] = p.method
    if cmp.secondary:
        row["secondary"] = {
            m: {
                "champion": c.champion,
                "candidate": c.candidate,
                "delta": c.delta,
                "ci_low": c.interval(level)[0],
                "ci_high": c.interval(level)[1],
                "undefined_reason": c.undefined_reason,
            }
            for m, c in cmp.secondary.items()
        }
    return row


def _judgement(
    check: str,
    ok: bool,
    message: str,
    *,
    observed: Any,
    threshold: Any,
    segment: str = "overall",
    outcome: Outcome = "reject",
) -> Check:
    """A check whose failure leads to `outcome`."""
    return Check(
        check,
        "pass" if ok else "fail",
        message,
        segment=segment,
        observed=observed,
        threshold=threshold,
        blocking=True,
        outcome=outcome,
    )


def _action_check(
    check: str, action: Action, message: str, *, segment: str, observed: Any, threshold: Any
) -> Check:
    """A finding whose consequence the config chooses: block, review, or pass with a warning."""
    if action == "pass":
        return Check(check, "warn", message, segment=segment, observed=observed, threshold=threshold)
    return Check(
        check,
        "fail",
        message,
        segment=segment,
        observed=observed,
        threshold=threshold,
        blocking=True,
        outcome=action,
    )


def _overall_checks(evidence: Evidence, config: PolicyConfig, verdict: Judged) -> list[Check]:
    assert evidence.overall is not None
    p = evidence.overall.primary
    m = p.metric
    level = config.statistics.confidence_level
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
        higher = HIGHER_IS_BETTER[m]
        ok = p.candidate >= config.absolute_floor if higher else p.candidate <= config.absolute_floor
        word = "at least" if higher else "at most"
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
    ok = verdict.status == "improved"
    ci = _fmt_ci(verdict.ci_low, verdict.ci_high, level)
    if ok:
        why = "the interval lies above 0"
    elif (p.gain or 0) <= 0:
        why = "no improvement"
    elif (p.gain or 0) < config.min_improvement:
        why = "the improvement is smaller than min_improvement"
    else:
        why = "the interval reaches 0: the improvement may be noise"
    out.append(
        _judgement(
            "overall_improvement",
            ok,
            f"{m} {p.champion:.4f} -> {p.candidate:.4f} (delta {p.delta:+.4f}{ci}): {why}; promotion needs "
            f"the interval above 0 and an improvement of at least {config.min_improvement:.4f}",
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


def _segment_checks(evidence: Evidence, config: PolicyConfig) -> tuple[list[dict[str, Any]], list[Check]]:
    stats = config.statistics
    level = stats.confidence_level
    keys = {k.name: k for k in config.key_segments}
    by_name: dict[str, SegmentComparison] = {}
    for cmp in [*evidence.segments, *evidence.key_segments]:
        by_name[cmp.segment] = cmp  # key segments' own row sets win
    tolerance = {name: (keys[name].max_regression if name in keys else 0.0) for name in by_name}

    # multiple-test correction across the family of segments that can be judged
    raw: dict[str, tuple[float, float]] = {}
    for name, cmp in by_name.items():
        thin = too_few_of_a_class(cmp.primary.metric, cmp.primary.minority, config.min_class_rows)
        if cmp.n >= config.min_segment_rows and not thin and not cmp.primary.undefined_reason:
            pv = raw_p_values(cmp.primary, tolerance[name])
            if pv is not None:
                raw[name] = pv
    names = list(raw)
    adj_reg = adjust([raw[n][0] for n in names], stats.correction)
    adj_imp = adjust([raw[n][1] for n in names], stats.correction)
    adjusted = {n: (adj_reg[i], adj_imp[i]) for i, n in enumerate(names)}

    overall_sd = evidence.overall.primary.psi_sd if evidence.overall else None
    rows: list[dict[str, Any]] = []
    verdicts: dict[str, Judged] = {}
    needed: dict[str, tuple[int | None, float]] = {}
    for name, cmp in by_name.items():
        verdict = judge(
            cmp.primary,
            min_class_rows=config.min_class_rows,
            min_rows=config.min_segment_rows,
            tolerance=tolerance[name],
            min_improvement=config.min_improvement,
            level=level,
            p_values=adjusted.get(name),
        )
        verdicts[name] = verdict
        row = _row(
            cmp, verdict, key=name in keys, tolerance=tolerance[name] if name in keys else None, level=level
        )
        if verdict.status in ("insufficient_data", "inconclusive", "at_risk"):
            effect = tolerance[name] or config.min_improvement or DEFAULT_EFFECT
            sd = cmp.primary.psi_sd if cmp.n >= 30 and cmp.primary.psi_sd else overall_sd
            row["rows_needed"] = rows_needed(sd, effect, level)
            row["rows_needed_for_effect"] = effect
            needed[name] = (row["rows_needed"], effect)
        rows.append(row)
    rows.sort(key=lambda r: (not r["key"], r["segment"]))

    checks: list[Check] = []
    metric = evidence.primary_metric
    for name, key in keys.items():
        cmp = by_name.get(name)
        checks.extend(
            _key_segment_checks(name, key, cmp, verdicts.get(name), config, metric, needed.get(name))
        )
    return rows, checks


def _key_segment_checks(
    name: str,
    key: KeySegment,
    cmp: SegmentComparison | None,
    verdict: Judged | None,
    config: PolicyConfig,
    metric: str,
    needed: tuple[int | None, float] | None = None,
) -> list[Check]:
    level = config.statistics.confidence_level
    n = cmp.n if cmp else 0
    if n == 0 or cmp is None or verdict is None:
        return [
            Check(
                "key_segment_missing",
                "fail",
                f"key segment {name} has no rows in the evaluation data, "
                "so the gate cannot tell whether it regressed",
                segment=name,
                observed=0,
                threshold=config.min_segment_rows,
                blocking=key.on_missing == "block",
                outcome="block",
            )
        ]
    p = cmp.primary
    if verdict.status in ("insufficient_data", "undefined"):
        if verdict.status == "undefined":
            why = f"{metric} undefined: {p.undefined_reason}"
        elif n < config.min_segment_rows:
            why = f"{n} rows, fewer than min_segment_rows={config.min_segment_rows}"
        else:
            why = (
                f"only {p.minority} rows of its rarest class, fewer than "
                f"min_class_rows={config.min_class_rows}"
            )
        rows_wanted, effect = needed or (None, DEFAULT_EFFECT)
        want = (
            f"about {rows_wanted:,} evaluation rows"
            if rows_wanted
            else f"at least {config.min_segment_rows} rows with {config.min_class_rows} of each class"
        )
        return [
            Check(
                "key_segment_insufficient_data",
                "fail",
                f"not enough evidence on key segment {name}: {why}",
                segment=name,
                observed=n,
                threshold=config.min_segment_rows,
                blocking=key.on_insufficient == "block",
                outcome="block",
                diagnosis="small_segment_needs_data",
                advice=f"collect more labelled rows of {name}: {want} would detect a {effect:g} change in "
                f"{metric}; meanwhile `upweight` can make a retrain attend to it",
            )
        ]
    if verdict.status == "baseline" or p.delta is None:
        return []
    gain = p.gain or 0.0
    ci = _fmt_ci(verdict.ci_low, verdict.ci_high, level)
    change = f"{metric} {'fell' if gain < 0 else 'rose' if gain > 0 else 'held'} {abs(gain):.4f}"
    tol = f"tolerance {key.max_regression:.4f}"
    if verdict.status == "regressed":
        return [
            _judgement(
                "key_segment_regression",
                False,
                f"{change} (delta {p.delta:+.4f}{ci}; {tol}): the whole interval is beyond the tolerance",
                observed=p.delta,
                threshold=key.max_regression,
                segment=name,
            )
        ]
    if verdict.status == "at_risk":
        return [
            _action_check(
                "key_segment_at_risk",
                key.on_at_risk,
                f"{change} (delta {p.delta:+.4f}{ci}; {tol}):"
                " worse than the tolerance, but the interval does not rule out noise",
                segment=name,
                observed=p.delta,
                threshold=key.max_regression,
            )
        ]
    if verdict.status == "inconclusive":
        return [
            _action_check(
                "key_segment_inconclusive",
                key.on_inconclusive,
                f"{change} (delta {p.delta:+.4f}"
                f"{ci}; {tol}): within the tolerance, but the interval reaches beyond it",
                segment=name,
                observed=p.delta,
                threshold=key.max_regression,
            )
        ]
    return [
        _judgement(
            "key_segment_regression",
            True,
            f"{change} (delta {p.delta:+.4f}{ci}; {tol})",
            observed=p.delta,
            threshold=key.max_regression,
            segment=name,
        )
    ]


def loss_since_gated(evidence: Evidence) -> float | None:
    """How much the champion lost on the evaluation rows since it was gated (positive = worse), or None."""
    ref, overall = evidence.reference, evidence.overall
    if not ref or overall is None or ref.get("metric") != evidence.primary_metric:
        return None
    champion = overall.primary.champion
    if champion is None:
        return None
    sign = 1.0 if HIGHER_IS_BETTER[evidence.primary_metric] else -1.0
    return sign * (ref["overall"] - champion)


def too_few_of_a_class(metric: str, minority: int | None, min_class_rows: int) -> bool:
    """Class-sensitive metrics need enough rows of the rarest class: 300 rows with 4 positives say
    almost nothing about AUC."""
    return metric in CLASS_SENSITIVE and minority is not None and minority < min_class_rows


def _recovery_checks(evidence: Evidence, config: PolicyConfig) -> list[Check]:
    """After retraining: if the champion lost ground since it was gated, did the candidate win it back?"""
    lost = loss_since_gated(evidence)
    if lost is None or lost <= config.triage.max_degradation or evidence.overall is None:
        return []
    ref, p = evidence.reference or {}, evidence.overall.primary
    if p.candidate is None or p.champion is None:
        return []
    sign = 1.0 if HIGHER_IS_BETTER[p.metric] else -1.0
    recovered = sign * (p.candidate - p.champion) / lost
    if recovered >= config.triage.min_recovery:
        return []
    changed = (
        ", ".join(
            f"{r['feature']} (importance {r['champion']:+.3f} -> {r['candidate']:+.3f})"
            for r in evidence.relation_changes[:5]
        )
        or "not measured"
    )
    return [
        Check(
            "concept_drift_beyond_retraining",
            "fail",
            f"{p.metric} was {ref['overall']:.4f} when the champion was gated and is {p.champion:.4f} "
            f"now; the candidate reaches {p.candidate:.4f}, recovering {recovered:.0%} of the loss (needs "
            f"{config.triage.min_recovery:.0%}). Features whose relation to the target changed most: "
            f"{changed}",
            segment="overall",
            observed=recovered,
            threshold=config.triage.min_recovery,
            blocking=True,
            outcome="reject",
            diagnosis="concept_drift_beyond_retraining",
            advice="retraining on more of the same data will not close this gap: revisit the features (what "
            "now drives the target?) or the learning algorithm",
        )
    ]


def _discovery_checks(evidence: Evidence, config: PolicyConfig) -> list[Check]:
    out = []
    for found in evidence.discovered:
        if not found.get("confirmed"):
            continue
        out.append(
            _action_check(
                "discovered_regression",
                config.discovery.action,
                f"candidate worse on {found['subgroup']} ({found['n']} confirmation rows, delta "
                f"{found['delta']:+.4f}, CI [{found['ci_low']:+.4f}, {found['ci_high']:+.4f}])",
                segment=found["subgroup"],
                observed=found["delta"],
                threshold=0.0,
            )
        )
    return out
