"""The decision: a pure function of evidence and config. No I/O here, ever.

Every finding is a `Check` with one effect; `decide` adds the comparison's own checks
(overall improvement, floors, key segments, discovered subgroups, recovery, approval) and
aggregates them: validation blocks first, then reject, block, review, skip, else promote.
Statuses of single deltas come from `gatekeeper.decide.judge`.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.config import KeySegment, PolicyConfig
from gatekeeper.decide.classes import class_recall_checks
from gatekeeper.decide.decision import (
    Decision,
    Diagnosis,
    Evidence,
    Reason,
    SegmentResult,
    Thresholds,
)
from gatekeeper.decide.gaps import gap_checks
from gatekeeper.decide.judge import DEFAULT_EFFECT, Judged, judge, judgeable, raw_p_values
from gatekeeper.decide.results import fmt_ci, result_row
from gatekeeper.decide.stability import churn_checks, stability_checks
from gatekeeper.metrics import metric
from gatekeeper.stats.bootstrap import PairedDelta, SegmentComparison
from gatekeeper.stats.inference import adjust, rows_needed
from gatekeeper.stats.units import MIN_INTERVAL_UNITS
from gatekeeper.triage.recovery import recovery_checks
from gatekeeper.vocabulary import Check, DecisionValue, effect_of, judgement

_EXPLAINS_PROMOTION = {"overall_improvement", "absolute_floor", "key_segment_regression", "bootstrap"}
_NEEDS_ROWS = ("insufficient_data", "inconclusive", "at_risk")


def decide(evidence: Evidence, config: PolicyConfig) -> Decision:
    """Aggregate every check into a decision, and say why."""
    stats = config.statistics
    checks: list[Check] = list(evidence.checks)
    segments: list[SegmentResult] = []
    fold_rows: list[SegmentResult] = []
    overall_row: SegmentResult | None = None
    if evidence.overall is not None:
        verdict = judge(
            evidence.overall.primary,
            min_rows=1,
            tolerance=0.0,
            min_improvement=config.min_improvement,
            level=stats.confidence_level,
        )
        overall_row = result_row(evidence.overall, verdict, key=None, level=stats.confidence_level)
        checks += _overall_checks(evidence, config, verdict)
        checks += churn_checks(evidence.overall, verdict.status, config)
        checks += gap_checks(evidence.segments, config)
        segments, segment_checks = _segment_checks(evidence, config)
        checks += segment_checks
        checks += _discovery_checks(evidence, config)
        checks += class_recall_checks(evidence, config)
        fold_rows, fold_checks = stability_checks(evidence, config)
        checks += fold_checks
        checks += recovery_checks(
            evidence.overall.primary,
            evidence.reference,
            evidence.relation_changes,
            config,
            better=verdict.status == "improved",
        )
        if config.require_approval and evidence.candidate_version is not None:
            checks.append(
                Check(
                    "approval_required",
                    "review",
                    "the config requires a person to approve every promotion (`require_approval: true`)",
                )
            )
    stopping = [c for c in checks if c.stops]
    return Decision(
        model_name=evidence.model_name,
        decision=_aggregate(checks, bootstrap=evidence.champion_version is None),
        champion_version=evidence.champion_version,
        candidate_version=evidence.candidate_version,
        primary_metric=evidence.primary_metric,
        thresholds=Thresholds(
            min_improvement=config.min_improvement,
            min_relative_improvement=config.min_relative_improvement,
            absolute_floor=config.absolute_floor,
            min_segment_rows=config.min_segment_rows,
            higher_is_better=metric(evidence.primary_metric).higher_is_better,
            min_class_rows=config.min_class_rows,
        ),
        overall=overall_row,
        segments=segments,
        reasons=[Reason.of(c) for c in stopping]
        or [Reason.of(c) for c in checks if c.holds and c.check in _EXPLAINS_PROMOTION],
        warnings=[Reason.of(c) for c in checks if c.effect == "warn"],
        checks=checks,
        correction=stats.correction,
        confidence_level=stats.confidence_level,
        n_resamples=stats.n_resamples,
        discovered_regressions=list(evidence.discovered),
        diagnosis=[
            Diagnosis(c.diagnosis, c.message, c.column, c.segment, c.observed, c.advice)
            for c in checks
            if c.diagnosis and not c.holds
        ],
        drift=sorted([d for d in evidence.drift if d.drifted], key=lambda d: -d.psi)[:50],
        triage=evidence.triage,
        mlflow_run_id=evidence.mlflow_run_id,
        prefect_flow_run_id=evidence.prefect_flow_run_id,
        quarantine=evidence.quarantine,
        time_folds=fold_rows,
    )


def _aggregate(checks: list[Check], *, bootstrap: bool) -> DecisionValue:
    stopping = [c for c in checks if c.stops]
    if any(c.check.startswith("validation") for c in stopping):
        return "blocked"
    for effect, decision in (("reject", "rejected"), ("block", "blocked"), ("review", "needs_review")):
        if any(c.effect == effect for c in stopping):
            return decision  # type: ignore[return-value]
    if stopping:  # only `skip`: triage found nothing retraining would fix
        return "not_retrained"
    return "bootstrap" if bootstrap else "promoted"


def _overall_checks(evidence: Evidence, config: PolicyConfig, verdict: Judged) -> list[Check]:
    assert evidence.overall is not None
    p = evidence.overall.primary
    m = metric(p.metric)
    level = config.statistics.confidence_level
    if p.undefined_reason or p.candidate is None:
        return [
            Check(
                "overall_metric_defined",
                "block",
                f"{m.name} is undefined on the evaluation rows: {p.undefined_reason}",
                segment="overall",
            )
        ]
    out: list[Check] = []
    if config.absolute_floor is not None:
        word = "at least" if m.higher_is_better else "at most"
        out.append(
            judgement(
                "absolute_floor",
                m.meets_floor(p.candidate, config.absolute_floor),
                f"candidate {m.name} {p.candidate:.4f} must be {word} {config.absolute_floor:.4f}",
                segment="overall",
                observed=p.candidate,
                threshold=config.absolute_floor,
            )
        )
    if evidence.champion_version is None:
        out.append(
            Check(
                "bootstrap",
                "none",
                f"no champion yet: candidate {m.name} {p.candidate:.4f} becomes the first champion",
                segment="overall",
                observed=p.candidate,
            )
        )
        return out
    if p.delta is None or p.champion is None:
        out.append(
            Check(
                "overall_metric_defined",
                "block",
                f"champion {m.name} is undefined: {p.undefined_reason}",
                segment="overall",
            )
        )
        return out
    ok = verdict.status == "improved"
    gain = p.gain or 0.0
    if ok:
        why = "the interval lies above 0"
    elif gain <= 0:
        why = "no improvement"
    elif gain < config.min_improvement:
        why = "the improvement is smaller than min_improvement"
    else:
        why = "the interval reaches 0: the improvement may be noise"
    out.append(
        judgement(
            "overall_improvement",
            ok,
            f"{m.name} {p.champion:.4f} -> {p.candidate:.4f} (delta {p.delta:+.4f}"
            f"{fmt_ci(verdict.ci_low, verdict.ci_high, level)}): {why}; promotion needs "
            f"the interval above 0 and an improvement of at least {config.min_improvement:.4f}",
            segment="overall",
            observed=p.delta,
            threshold=config.min_improvement,
        )
    )
    if config.min_relative_improvement > 0:
        rel = m.relative_change(p.champion, p.candidate)
        out.append(
            judgement(
                "overall_relative_improvement",
                rel >= config.min_relative_improvement,
                f"{m.name} relative change {rel:+.2%} (needs at least {config.min_relative_improvement:.2%})",
                segment="overall",
                observed=rel,
                threshold=config.min_relative_improvement,
            )
        )
    return out


def _segment_checks(evidence: Evidence, config: PolicyConfig) -> tuple[list[SegmentResult], list[Check]]:
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
        if judgeable(cmp.primary, min_rows=config.min_segment_rows, min_class_rows=config.min_class_rows):
            pv = raw_p_values(cmp.primary, tolerance[name])
            if pv is not None:
                raw[name] = pv
    names = list(raw)
    adj_reg = adjust([raw[n][0] for n in names], stats.correction)
    adj_imp = adjust([raw[n][1] for n in names], stats.correction)
    adjusted = {n: (adj_reg[i], adj_imp[i]) for i, n in enumerate(names)}

    overall_sd = evidence.overall.primary.influence_sd if evidence.overall else None
    rows: list[SegmentResult] = []
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
        extra: dict[str, Any] = {}
        if verdict.status in _NEEDS_ROWS:
            effect = tolerance[name] or config.min_improvement or DEFAULT_EFFECT
            sd = cmp.primary.influence_sd if cmp.n >= 30 and cmp.primary.influence_sd else overall_sd
            extra = {"rows_needed": rows_needed(sd, effect, level), "rows_needed_for_effect": effect}
            needed[name] = (extra["rows_needed"], effect)
        rows.append(result_row(cmp, verdict, key=keys.get(name), level=level, **extra))
    rows.sort(key=lambda r: (not r.key, r.segment))

    checks: list[Check] = []
    for name, key in keys.items():
        checks += _key_segment_checks(
            key, by_name.get(name), verdicts.get(name), config, evidence.primary_metric, needed.get(name)
        )
    return rows, checks


def _key_segment_checks(
    key: KeySegment,
    cmp: SegmentComparison | None,
    verdict: Judged | None,
    config: PolicyConfig,
    metric_name: str,
    needed: tuple[int | None, float] | None = None,
) -> list[Check]:
    name = key.name
    level = config.statistics.confidence_level
    if cmp is None or cmp.n == 0 or verdict is None:
        return [
            Check(
                "key_segment_missing",
                "block" if key.on_missing == "block" else "warn",
                f"key segment {name} has no rows in the evaluation data, "
                "so the gate cannot tell whether it regressed",
                segment=name,
                observed=0,
                threshold=config.min_segment_rows,
            )
        ]
    p = cmp.primary
    if verdict.status in ("insufficient_data", "undefined"):
        return [_insufficient(key, p, verdict, config, metric_name, needed)]
    if verdict.status == "baseline" or p.delta is None:
        return []
    gain = p.gain or 0.0
    where: dict[str, Any] = {"segment": name, "observed": p.delta, "threshold": key.max_regression}
    change = (
        f"{metric_name} {'fell' if gain < 0 else 'rose' if gain > 0 else 'held'} {abs(gain):.4f} "
        f"(delta {p.delta:+.4f}{fmt_ci(verdict.ci_low, verdict.ci_high, level)}; "
        f"tolerance {key.max_regression:.4f})"
    )
    if verdict.status == "regressed":
        return [
            judgement(
                "key_segment_regression",
                False,
                f"{change}: the whole interval is beyond the tolerance",
                **where,
            )
        ]
    if verdict.status == "at_risk":
        return [
            Check(
                "key_segment_at_risk",
                effect_of(key.on_at_risk),
                f"{change}: worse than the tolerance, but the interval does not rule out noise",
                **where,
            )
        ]
    if verdict.status == "inconclusive":
        return [
            Check(
                "key_segment_inconclusive",
                effect_of(key.on_inconclusive),
                f"{change}: within the tolerance, but the interval reaches beyond it",
                **where,
            )
        ]
    return [judgement("key_segment_regression", True, change, **where)]


def _insufficient(
    key: KeySegment,
    p: PairedDelta,
    verdict: Judged,
    config: PolicyConfig,
    metric_name: str,
    needed: tuple[int | None, float] | None,
) -> Check:
    """Not enough evidence on a key segment: say so, and how many rows would be enough."""
    if verdict.status == "undefined":
        why = f"{metric_name} undefined: {p.undefined_reason}"
    elif p.n < config.min_segment_rows:
        why = f"{p.n} rows, fewer than min_segment_rows={config.min_segment_rows}"
    elif p.too_few_units:
        why = (
            f"its {p.n} rows fall in {p.units} independent units ({p.units_named}), "
            f"fewer than the {MIN_INTERVAL_UNITS} an interval needs"
        )
    else:
        why = f"only {p.minority} rows of its rarest class, fewer than min_class_rows={config.min_class_rows}"
    rows_wanted, effect = needed or (None, DEFAULT_EFFECT)
    want = (
        f"about {rows_wanted:,} evaluation rows"
        if rows_wanted
        else f"at least {config.min_segment_rows} rows with {config.min_class_rows} of each class"
    )
    return Check(
        "key_segment_insufficient_data",
        "block" if key.on_insufficient == "block" else "warn",
        f"not enough evidence on key segment {key.name}: {why}",
        segment=key.name,
        observed=p.n,
        threshold=config.min_segment_rows,
        diagnosis="small_segment_needs_data",
        advice=f"collect more labelled rows of {key.name}: {want} would detect a {effect:g} change in "
        f"{metric_name}; meanwhile `upweight` can make a retrain attend to it",
    )


def _discovery_checks(evidence: Evidence, config: PolicyConfig) -> list[Check]:
    return [
        Check(
            "discovered_regression",
            effect_of(config.discovery.action),
            f"candidate worse on {found.subgroup} ({found.n} confirmation rows, delta "
            f"{found.delta:+.4f}, CI [{found.ci_low or 0:+.4f}, {found.ci_high or 0:+.4f}])",
            segment=found.subgroup,
            observed=found.delta,
            threshold=0.0,
        )
        for found in evidence.discovered
        if found.confirmed
    ]
