"""What a person reads: the decision as markdown, a segment table, CSV and JSON (pure)."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from gatekeeper.decide.decision import Decision, Reason, SegmentResult, decision_to_json
from gatekeeper.report.classes import class_lines, driving_classes
from gatekeeper.report.review import review_lines
from gatekeeper.serialize import jsonable
from gatekeeper.vocabulary import DecisionValue

_HEADLINE: dict[DecisionValue, str] = {
    "promoted": "Promoted: the candidate is the new champion",
    "bootstrap": "Bootstrap: the first champion was registered",
    "rejected": "Rejected: the champion stays",
    "blocked": "Blocked: the gate could not judge this run; the champion stays",
    "not_retrained": "Not retrained: retraining would not help",
    "needs_review": "Needs review: the champion stays until a person approves or rejects the candidate",
}
SEGMENT_COLUMNS = [
    "segment",
    "key",
    "n",
    "champion",
    "candidate",
    "delta",
    "ci_low",
    "ci_high",
    "status",
    "rows_needed",
    "churn",
    "classes_driving",
]


FOREST_PLOT_FILE = "segment_forest.png"


def artifact_key(model_name: str, suffix: str = "") -> str:
    """Stable Prefect artifact key from the model name (lowercase letters, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-") or "model"
    return f"gate-{slug}{'-' + suffix if suffix else ''}"


_CORRECTION = {
    "holm": "Holm (family-wise error)",
    "bh": "Benjamini-Hochberg (false discovery rate)",
    "none": "none",
}


def _num(x: Any, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    return f"[{_num(low, signed=True)}, {_num(high, signed=True)}]"


def _interval_says_more(r: SegmentResult) -> bool:
    """The segment's own interval excludes zero while its (multiplicity-corrected) status says no
    change or not enough evidence."""
    if r.ci_low is None or r.ci_high is None or r.status not in ("no_change", "inconclusive"):
        return False
    return r.ci_low > 0 or r.ci_high < 0


def _clusters(d: Decision) -> str:
    method = (d.overall.method if d.overall else None) or ""
    return f" of whole clusters ({method.split(' over ')[-1]})" if " over " in method else ""


def ordered_segments(decision: Decision) -> list[SegmentResult]:
    """Overall first, then key segments, then the rest."""
    rows = [decision.overall] if decision.overall else []
    return rows + sorted(decision.segments, key=lambda s: (not s.key, s.segment))


def segment_rows(decision: Decision) -> list[dict[str, Any]]:
    """The evidence table as plain rows (for a Prefect table artifact and CSV)."""
    least = decision.thresholds.min_class_rows
    rows: list[dict[str, Any]] = jsonable(
        [
            {
                c: driving_classes(s, least) if c == "classes_driving" else getattr(s, c)
                for c in SEGMENT_COLUMNS
            }
            for s in ordered_segments(decision)
        ]
    )
    return rows


def rounded_segment_rows(decision: Decision) -> list[dict[str, Any]]:
    """The evidence table for the Prefect UI: each row's numbers to the precision its interval
    supports (two significant digits of the interval's width; four decimals without one)."""
    out = []
    for row in segment_rows(decision):
        low, high = row.get("ci_low"), row.get("ci_high")
        digits = 4
        if isinstance(low, int | float) and isinstance(high, int | float) and high > low:
            digits = int(min(6, max(2, 1 - math.floor(math.log10(high - low)))))
        for column in ("champion", "candidate", "delta", "ci_low", "ci_high"):
            if isinstance(row.get(column), float):
                row[column] = round(row[column], digits)
        if isinstance(row.get("churn"), float):
            row["churn"] = round(row["churn"], 3)
        out.append(row)
    return out


def segments_csv(decision: Decision) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SEGMENT_COLUMNS)
    writer.writeheader()
    writer.writerows(segment_rows(decision))
    return buf.getvalue()


def grouped(reasons: list[Reason]) -> list[str]:
    """Findings as a person reads them: one line per finding, overall first, then by segment. The
    reasons about one column (a broken feature seen by the per-segment checks, the slice search and
    a suite) are one finding: its first message, then every other check and segment that saw it."""
    groups: dict[tuple[str, ...], list[Reason]] = {}
    for r in reasons:
        key = ("column", r.column) if r.column else ("check", r.check, r.segment or "")
        groups.setdefault(key, []).append(r)
    ordered = sorted(
        groups.values(), key=lambda g: (g[0].segment not in (None, "overall"), g[0].segment or "")
    )
    lines = []
    for group in ordered:
        first, rest = group[0], group[1:]
        line = f"- {first.text(code=True)}"
        if rest:
            seen = sorted({f"`{r.check}`" + (f" [{r.segment}]" if r.segment else "") for r in rest})
            line += f" (also: {', '.join(seen)})"
        lines.append(line)
    return lines


def render_markdown(decision: Decision, links: dict[str, str] | None = None, image: str | None = None) -> str:
    """Decision and reasons first, then the evidence table, then where to look."""
    d = decision
    lines = [f"# {d.model_name}: {d.decision.upper()}", "", f"**{_HEADLINE[d.decision]}.**", ""]
    lines += review_lines(d)
    versions = []
    if d.candidate_version:
        source = f" (trained outside the gate: `{d.candidate_source}`)" if d.candidate_source else ""
        versions.append(f"candidate version **{d.candidate_version}**{source}")
    versions.append(
        f"champion version **{d.champion_version}**" if d.champion_version else "no champion before this run"
    )
    lines += ["; ".join(versions) + f"; primary metric `{d.primary_metric}`.", ""]
    if d.champion_adopted:
        lines += [
            f"**Champion adopted:** version {d.champion_version} carried no gate record (promoted by hand); "
            "this run scored it on the evaluation rows and recorded that as its reference in the registry, "
            "so triage compares against it from the next run on.",
            "",
        ]
    lines += ["## Why", ""]
    lines += grouped(d.reasons) or ["- (no reasons recorded)"]
    if d.quarantine:
        lines += ["", f"The failing data was copied to quarantine: `{d.quarantine}` (nothing was deleted)."]
    rows = ordered_segments(d)
    if rows:
        lines += [
            "",
            f"## Evidence ({d.primary_metric}, delta = candidate - champion)",
            "",
            f"Intervals: paired bootstrap, {d.n_resamples} resamples{_clusters(d)}, "
            f"{d.confidence_level:.0%} level; "
            f"segment statuses corrected for multiple testing: {_CORRECTION[d.correction]}.",
            "",
            "| segment | key | n | champion | candidate | delta | interval | status | rows needed | churn |",
            "|---|---|---:|---:|---:|---:|---|---|---:|---:|",
        ]
        disagree = False
        for r in rows:
            mark = ""
            if _interval_says_more(r):
                mark, disagree = " †", True
            needed = "" if r.status in ("improved", "regressed") else (r.rows_needed or "")
            lines.append(
                f"| {r.segment} | {'yes' if r.key else ''} | {r.n} | {_num(r.champion)} | "
                f"{_num(r.candidate)} | {_num(r.delta, signed=True)} | {_interval(r.ci_low, r.ci_high)} | "
                f"{r.status}{mark} | {needed} | {'' if r.churn is None else f'{r.churn:.1%}'} |"
            )
        if disagree:
            lines += [
                "",
                f"† The interval excludes zero, the status does not say so: statuses are corrected for "
                f"testing every segment ({_CORRECTION[d.correction]}), the intervals are each segment's own. "
                "The change did not survive the correction.",
            ]
        lines += [
            "",
            "`rows needed`: evaluation rows for the interval to reach a verdict at the observed delta "
            "(shown where there is none yet).",
        ]
        if image:
            lines += ["", f"![segment forest plot: delta and interval per segment]({image})"]
    if d.diagnosis:
        lines += ["", "## Diagnosis", ""]
        for diagnosis in d.diagnosis:
            lines.append(f"- **{diagnosis.kind}**: {diagnosis.evidence}. {diagnosis.advice or ''}".rstrip())
    if d.warnings:
        lines += ["", "## Warnings (reported, not deciding)", ""]
        lines += grouped(d.warnings)
    lines += _secondary_lines(d, rows)
    lines += class_lines(d, rows)
    gaps = [c for c in d.checks if c.check == "segment_gap"]
    if gaps:
        lines += ["", "## Gap between each segment column's best and worst segment", ""]
        lines += [f"- {c.message}" + (" (**review**)" if c.effect == "review" else "") for c in gaps]
    if d.time_folds:
        lines += [
            "",
            f"## Over time: the comparison per fold of the evaluation rows ({d.primary_metric}, oldest "
            "first)",
            "",
            "| fold | n | champion | candidate | delta | interval |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for r in d.time_folds:
            lines.append(
                f"| {r.segment} | {r.n} | {_num(r.champion)} | {_num(r.candidate)} | "
                f"{_num(r.delta, signed=True)} | {_interval(r.ci_low, r.ci_high)} |"
            )
    if d.discovered_regressions:
        lines += [
            "",
            "## Discovered subgroups where the candidate is worse",
            "",
            "Searched on half of the evaluation rows; measured on the other half only.",
            "",
            "| subgroup | rows (held out) | share | delta | interval | confirmed |",
            "|---|---:|---:|---:|---|---|",
        ]
        for f in d.discovered_regressions:
            lines.append(
                f"| {f.subgroup} | {f.n} | {f.share:.1%} | {_num(f.delta, signed=True)} | "
                f"{_interval(f.ci_low, f.ci_high)} | {'yes' if f.confirmed else 'no'} |"
            )
    degradation = d.triage.degradation
    if degradation:
        lines += [
            "",
            f"## Triage: the champion on the new labels against its reference ({d.primary_metric})",
            "",
            "| segment | n | reference | on new labels | interval | degraded |",
            "|---|---:|---:|---:|---|---|",
        ]
        for g in degradation[:20]:
            lines.append(
                f"| {g.segment} | {g.n} | {_num(g.reference)} | {_num(g.batch)} | "
                f"{_interval(g.ci_low, g.ci_high)} | {'yes' if g.degraded else ''} |"
            )
    curve = d.triage.value
    if curve is not None:
        verdict = "retrain" if curve.worth_retraining else "skip"
        lines += [
            "",
            "## Triage: what the new labels are worth (learning curve)",
            "",
            f"{curve.summary()}; threshold (min_improvement + retrain_cost) "
            f"{curve.threshold:g}: **{verdict}**.",
            "",
            f"Basis: {curve.basis}.",
            "",
            "| training rows | " + " | ".join(str(n) for n in curve.sizes) + " |",
            "|---|" + "---:|" * len(curve.sizes),
            f"| {curve.metric} | " + " | ".join(_num(v) for v in curve.scores) + " |",
        ]
        if curve.new_rows_test is not None:
            test = curve.new_rows_test
            lines += [
                "",
                f"Are the new labels worth more than reference rows (the curve counts rows like the "
                f"reference's)? {test.summary()}: **{'yes, retrain' if test.worth_more else 'no'}** "
                f"({curve.metric} {_num(test.reference_score)} on the whole reference, "
                f"{_num(test.swapped_score)} with new rows swapped in).",
            ]
    labels = d.triage.labels
    if labels:
        lines += [
            "",
            "## Triage: labels that disagree with a confident prediction",
            "",
            "| segment | n | new labels | trusted rows | excess |",
            "|---|---:|---:|---:|---:|",
        ]
        for n in sorted(labels, key=lambda r: -r.excess)[:15]:
            lines.append(
                f"| {n.segment} | {n.n} | {n.suspect_rate:.1%} | {n.baseline_rate:.1%} | {n.excess:+.1%} |"
            )
    if d.drift:
        lines += [
            "",
            "## Drift between the reference (train) and the new labels",
            "",
            "Judged by population stability index (PSI); the test's p-value is shown, not used. Where rows "
            "are tied by time, order or entity, a feature drifts only beyond the PSI all but 5% of the "
            "reference's stretches as long as the batch stayed below (natural PSI), and the p-value "
            "counts units.",
            "",
            "| feature | segment | PSI | natural PSI | test | p-value | unit | rows (ref / new) |",
            "|---|---|---:|---:|---|---:|---|---|",
        ]
        for x in d.drift[:15]:
            natural = "" if x.natural_psi is None else f"{x.natural_psi:.3f}"
            lines.append(
                f"| {x.feature} | {x.segment} | {x.psi:.3f} | {natural} | {x.test} | {x.p_value:.2g} | "
                f"{x.unit} | {x.reference_rows} / {x.batch_rows} |"
            )
    t = d.thresholds
    lines += [
        "",
        "## Thresholds",
        "",
        f"min_improvement {t.min_improvement}, min_relative_improvement "
        f"{t.min_relative_improvement}, absolute_floor {t.absolute_floor}, "
        f"min_segment_rows {t.min_segment_rows}, "
        f"{'higher' if t.higher_is_better else 'lower'} is better.",
    ]
    links = dict(links or {})
    if d.mlflow_run_id:
        links.setdefault("MLflow run", d.mlflow_run_id)
    if d.prefect_flow_run_id:
        links.setdefault("Prefect flow run", d.prefect_flow_run_id)
    plot = links.get("segment forest plot", "")
    if plot and not plot.startswith(("http://", "https://")):
        # a file on the machine that ran the gate: no browser reaches it from the Prefect UI
        links["segment forest plot"] = (
            f"`{FOREST_PLOT_FILE}` in the MLflow run's artifacts (the evidence table above is its data)"
        )
    if links:
        lines += ["", "## Where to look", ""] + [f"- {k}: {v}" for k, v in links.items()]
    return "\n".join(lines) + "\n"


def write_decision(decision: Decision, path: str | Path) -> Path:
    """decision.json, through the one serialiser."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(decision_to_json(decision))
    return path


def reason_lines(reasons: list[Reason]) -> str:
    """Reasons on one line each, for tags and logs."""
    return "; ".join(r.text() for r in reasons)


def _secondary_lines(d: Decision, rows: list[SegmentResult], max_rows: int = 40) -> list[str]:
    """The secondary metrics per segment, each with its paired interval (those with a champion)."""
    table = [
        (r.segment, name, c)
        for r in rows
        for name, c in r.secondary.items()
        if c.delta is not None or c.undefined_reason
    ]
    if not table:
        return []
    lines = [
        "",
        "## Secondary metrics (delta = candidate - champion)",
        "",
        "| segment | metric | champion | candidate | delta | interval |",
        "|---|---|---:|---:|---:|---|",
    ]
    for segment, name, c in table[:max_rows]:
        interval = _interval(c.ci_low, c.ci_high)
        if c.undefined_reason:
            interval = f"undefined: {c.undefined_reason}"
        delta = "" if c.delta is None else _num(c.delta, signed=True)
        lines.append(
            f"| {segment} | {name} | {_num(c.champion)} | {_num(c.candidate)} | {delta} | {interval} |"
        )
    if len(table) > max_rows:
        lines += ["", f"{len(table) - max_rows} more rows in decision.json (`secondary`)."]
    return lines
