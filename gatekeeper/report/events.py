"""A decision as Prefect sees it: the run's final state name, its tags and one event (pure).

Every gate run ends `Completed` (the gate did its job whatever it decided), named after the decision
(`vocabulary.STATE_NAMES`: `Promoted`, `Rejected`, `Blocked`, `NotRetrained`, `NeedsReview`,
`Bootstrapped`), so the runs list tells them apart. It is tagged `model:<name>` and
`decision:<kind>`, and emits `gatekeeper.decision.<kind>` about the model (resource
`gatekeeper.model.<name>`), with the candidate and champion versions and the segments with findings
as related resources and the verdict, reasons and links as payload: what an automation matches on
(`automations/`, installed by `gatekeeper automations install`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gatekeeper.decide.decision import Decision
from gatekeeper.errors import redact
from gatekeeper.vocabulary import STATE_NAMES

EVENT_PREFIX = "gatekeeper.decision."
MAX_REASONS = 20
MAX_SEGMENTS = 20
QUIET = frozenset({"improved", "no_change", "baseline"})  # segment statuses that are not findings


@dataclass(frozen=True)
class DecisionEvent:
    event: str
    resource: dict[str, str]
    related: list[dict[str, str]]
    payload: dict[str, Any]


def state_name(decision: Decision) -> str:
    return STATE_NAMES[decision.decision]


def run_tags(decision: Decision, existing: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The run's tags with its model and its decision; a decision tag from before (a run that waited
    for review, then was answered) is replaced, so filtering by decision finds the run once."""
    kept = {t for t in existing if not t.startswith("decision:")}
    return sorted(kept | {f"model:{decision.model_name}", f"decision:{decision.decision}"})


def model_resource_id(model_name: str) -> str:
    return f"gatekeeper.model.{model_name}"


def decision_event(decision: Decision, links: dict[str, str] | None = None) -> DecisionEvent:
    """The event one gate run emits about its model (resource labels are strings, as Prefect's are)."""
    model = decision.model_name
    resource = {
        "prefect.resource.id": model_resource_id(model),
        "prefect.resource.name": model,
        "gatekeeper.decision": decision.decision,
        "gatekeeper.candidate_version": decision.candidate_version or "",
        "gatekeeper.champion_version": decision.champion_version or "",
    }
    versions = (("candidate", decision.candidate_version), ("champion", decision.champion_version))
    related = [
        {
            "prefect.resource.id": f"mlflow.model-version.{model}.{version}",
            "prefect.resource.role": role,
            "prefect.resource.name": f"{model} v{version}",
        }
        for role, version in versions
        if version
    ]
    findings = [s for s in decision.segments if s.status not in QUIET][:MAX_SEGMENTS]
    related += [
        {
            "prefect.resource.id": f"gatekeeper.segment.{model}.{s.segment}",
            "prefect.resource.role": "segment-finding",
            "prefect.resource.name": s.segment,
            "gatekeeper.status": s.status,
        }
        for s in findings
    ]
    payload = {
        "decision": decision.decision,
        "state": state_name(decision),
        "summary": decision.summary(),
        "model": model,
        "candidate_version": decision.candidate_version,
        "champion_version": decision.champion_version,
        "reasons": [redact(r.text()) for r in decision.reasons[:MAX_REASONS]],
        "diagnosis": sorted({d.kind for d in decision.diagnosis}),
        "segments": [
            {"segment": s.segment, "status": s.status, "delta": s.delta, "key": s.key} for s in findings
        ],
        "quarantine": decision.quarantine,
        "mlflow_run_id": decision.mlflow_run_id,
        "links": {name: redact(url) for name, url in (links or {}).items()},
    }
    return DecisionEvent(EVENT_PREFIX + decision.decision, resource, related, payload)
