"""What a person reads: the decision as markdown, a segment table, CSV and JSON (pure)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from gatekeeper.policy import Decision
from gatekeeper.serialize import jsonable

_HEADLINE = {
    "promoted": "Promoted: the candidate is the new champion",
    "bootstrap": "Bootstrap: the first champion was registered",
    "rejected": "Rejected: the champion stays",
    "blocked": "Blocked: the gate could not judge this run; the champion stays",
    "not_retrained": "Not retrained: retraining would not help",
}
SEGMENT_COLUMNS = ["segment", "key", "n", "champion", "candidate", "delta", "status"]


def artifact_key(model_name: str, suffix: str = "") -> str:
    """Stable Prefect artifact key from the model name (lowercase letters, digits, dashes)."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-") or "model"
    return f"gate-{slug}{'-' + suffix if suffix else ''}"


def _num(x: Any, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def segment_rows(decision: Decision) -> list[dict[str, Any]]:
    """Overall first, then key segments, then the rest; values rounded for display."""
    rows = []
    if decision.overall:
        o = decision.overall
        rows.append(
            {
                "segment": "overall",
                "key": False,
                "n": o.get("n"),
                "champion": o.get("champion"),
                "candidate": o.get("candidate"),
                "delta": o.get("delta"),
                "status": "-",
            }
        )
    ordered = sorted(decision.segments, key=lambda s: (not s["key"], s["segment"]))
    rows += [{c: s.get(c) for c in SEGMENT_COLUMNS} for s in ordered]
    return jsonable(rows)


def segments_csv(decision: Decision) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SEGMENT_COLUMNS)
    writer.writeheader()
    writer.writerows(segment_rows(decision))
    return buf.getvalue()


def render_markdown(decision: Decision, links: dict[str, str] | None = None) -> str:
    """Decision and reasons first, then the evidence table, then where to look."""
    d = decision
    lines = [f"# {d.model_name}: {d.decision.upper()}", "", f"**{_HEADLINE[d.decision]}.**", ""]
    versions = []
    if d.candidate_version:
        versions.append(f"candidate version **{d.candidate_version}**")
    versions.append(
        f"champion version **{d.champion_version}**" if d.champion_version else "no champion before this run"
    )
    lines += ["; ".join(versions) + f"; primary metric `{d.primary_metric}`.", ""]
    lines += ["## Why", ""]
    lines += [
        f"- `{r['check']}`{' [' + r['segment'] + ']' if r.get('segment') else ''}: {r['message']}"
        for r in d.reasons
    ] or ["- (no reasons recorded)"]
    if d.warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- `{w['check']}`: {w['message']}" for w in d.warnings]
    if d.quarantine:
        lines += ["", f"The failing data was copied to quarantine: `{d.quarantine}` (nothing was deleted)."]
    rows = segment_rows(d)
    if rows:
        lines += [
            "",
            f"## Evidence ({d.primary_metric}, delta = candidate - champion)",
            "",
            "| segment | key | n | champion | candidate | delta | status |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['segment']} | {'yes' if r['key'] else ''} | {r['n']} | "
                f"{_num(r['champion'])} | {_num(r['candidate'])} | "
                f"{_num(r['delta'], signed=True)} | {r['status']} |"
            )
    t = d.thresholds
    lines += [
        "",
        "## Thresholds",
        "",
        f"min_improvement {t['min_improvement']}, min_relative_improvement "
        f"{t['min_relative_improvement']}, absolute_floor {t['absolute_floor']}, "
        f"min_segment_rows {t['min_segment_rows']}, "
        f"{'higher' if t['higher_is_better'] else 'lower'} is better.",
    ]
    links = dict(links or {})
    if d.mlflow_run_id:
        links.setdefault("MLflow run", d.mlflow_run_id)
    if d.prefect_flow_run_id:
        links.setdefault("Prefect flow run", d.prefect_flow_run_id)
    if links:
        lines += ["", "## Where to look", ""] + [f"- {k}: {v}" for k, v in links.items()]
    return "\n".join(lines) + "\n"


def write_decision(decision: Decision, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jsonable(decision.to_dict()), indent=2) + "\n")
    return path
