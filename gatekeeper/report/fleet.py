"""A fleet run's summary: every model's decision in one table, what needs a person first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gatekeeper.decide.decision import Decision
from gatekeeper.decide.fleet import CHECK, FleetControl
from gatekeeper.report.markdown import artifact_key

# what a person must look at first: a model that failed, one waiting for a reviewer, one that could
# not be judged, a promotion the fleet held back; then what happened by itself
URGENCY = {
    "error": 0,
    "needs_review": 1,
    "blocked": 2,
    "held by the fleet": 3,
    "rejected": 4,
    "promoted": 5,
    "bootstrap": 6,
    "not_retrained": 7,
    "not gated": 8,
}
STATE_NEEDS_A_PERSON = "NeedsAPerson"
STATE_DECIDED = "Decided"


@dataclass(frozen=True)
class ModelOutcome:
    """One model of a fleet run: its decision, or the error that stopped its gate."""

    model_name: str
    decision: Decision | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        if self.decision is None:
            return "error"
        if self.decision.decision == "rejected" and any(c.check == CHECK for c in self.decision.checks):
            return "held by the fleet"
        return self.decision.decision


@dataclass(frozen=True)
class FleetResult:
    """What a fleet run decided, model by model, and how promotions were controlled across it."""

    name: str
    outcomes: list[ModelOutcome]
    control: FleetControl
    not_gated: dict[str, str] = field(default_factory=dict)  # a value of `per_value` -> why not

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for outcome in self.outcomes:
            out[outcome.status] = out.get(outcome.status, 0) + 1
        if self.not_gated:
            out["not gated"] = len(self.not_gated)
        return dict(sorted(out.items(), key=lambda kv: URGENCY.get(kv[0], 99)))

    def needs_a_person(self) -> int:
        return sum(1 for o in self.outcomes if URGENCY[o.status] <= URGENCY["held by the fleet"])

    def state_name(self) -> str:
        """The fleet run's final state: `NeedsAPerson` when any model does, else `Decided`."""
        return STATE_NEEDS_A_PERSON if self.needs_a_person() else STATE_DECIDED

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        return f"fleet {self.name}: {len(self.outcomes)} model(s) gated: {counts}"


def _why(outcome: ModelOutcome) -> str:
    if outcome.decision is None:
        return outcome.error or "failed"
    reasons = outcome.decision.reasons
    text = reasons[0].text() if reasons else ""
    more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return (text[:240] + "...") if len(text) > 240 else text + more


def fleet_rows(result: FleetResult, tracking_uri: str = "") -> list[dict[str, Any]]:
    """The summary table: one row per model, sorted by what needs a person, then by name."""
    rows = []
    for outcome in sorted(result.outcomes, key=lambda o: (URGENCY[o.status], o.model_name)):
        d = outcome.decision
        overall = d.overall if d is not None else None
        rows.append(
            {
                "model": outcome.model_name,
                "decision": outcome.status,
                "candidate": f"v{d.candidate_version}" if d is not None and d.candidate_version else "",
                "champion": f"v{d.champion_version}" if d is not None and d.champion_version else "",
                "gain": "" if overall is None or overall.delta is None else f"{overall.delta:+.4f}",
                "interval": ""
                if overall is None or overall.ci_low is None or overall.ci_high is None
                else f"[{overall.ci_low:+.4f}, {overall.ci_high:+.4f}]",
                "why": _why(outcome),
                "report": f"artifact {artifact_key(outcome.model_name)}",
                "mlflow run": d.mlflow_run_id or "" if d is not None else "",
            }
        )
    for value, why in sorted(result.not_gated.items()):
        rows.append({"model": value, "decision": "not gated", "why": why})
    return rows


def render_fleet_markdown(result: FleetResult, tracking_uri: str = "") -> str:
    """The fleet's report: counts, the control of wrong promotions, and the table."""
    rows = fleet_rows(result, tracking_uri)
    lines = [
        f"# Fleet {result.name}: {len(result.outcomes)} model(s)",
        "",
        "**" + ", ".join(f"{n} {status}" for status, n in result.counts().items()) + "**",
        "",
        f"Wrong promotions across the fleet: {result.control.text()}.",
        "",
        "Models are listed by what needs a person first (errors, reviews, blocked batches, promotions the "
        "fleet held back). Each model's own report is the artifact named in its row; approve or reject "
        "a `needs_review` candidate with `gatekeeper approve|reject --model M --version V`.",
        "",
    ]
    columns = ["model", "decision", "candidate", "champion", "gain", "interval", "why", "report"]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        cells = [str(row.get(c, "")).replace("|", "\\|").replace("\n", " ") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    if tracking_uri:
        lines += ["", f"MLflow: {tracking_uri}"]
    return "\n".join(lines) + "\n"
