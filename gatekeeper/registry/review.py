"""A person's answer to a review, rollbacks and a model's status: the champion's history in MLflow."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from typing import Any

from gatekeeper.errors import ConfigError, RegistryConflict, RegistryNotFound, ReviewerNotAllowed
from gatekeeper.findings import Review
from gatekeeper.registry import CHAMPION, PREVIOUS, ROLLED_BACK
from gatekeeper.registry.client import alias_version, connect, registry_errors
from gatekeeper.registry.custody import examine
from gatekeeper.registry.moves import aliases_of, move, promotion_lock, refuse_unfinished
from gatekeeper.registry.records import REVIEW_FILE, check_reviewable, read_record, sha256, signature_tags
from gatekeeper.report.review import review_headline


def _version(client: Any, uri: str, model_name: str, version: str) -> Any:
    try:
        with registry_errors(uri, f"read version {version} of {model_name}"):
            return client.get_model_version(model_name, version)
    except RegistryNotFound:
        raise RegistryNotFound(f"{model_name} has no version {version!r} in the registry at {uri}") from None


def _allowed(client: Any, uri: str, run_id: str | None) -> list[str]:
    """The gate run's `review.reviewers` (an MLflow param: it cannot be changed once logged)."""
    if not run_id:
        return []
    with registry_errors(uri, f"read the parameters of run {run_id}"):
        raw = client.get_run(run_id).data.params.get("review.reviewers")
    try:
        names = json.loads(raw) if raw else []
    except ValueError:
        names = [raw]
    return [str(n) for n in names] if isinstance(names, list) else [str(names)]


def settle_review(
    uri: str,
    model_name: str,
    version: str,
    *,
    approve: bool,
    reviewer: str,
    comment: str = "",
    automatic: bool = False,
) -> tuple[str, Review]:
    """A named person's answer to a `needs_review` decision, checked against the gate's own record.

    Refused unless the version's decision.json (its hash equal to the version's tag) says
    `needs_review` for this version against the current champion and no review.json exists (a review
    is final); the reviewer must be named, and on the run's `review.reviewers` list when it has one
    (`automatic`: the gate's own timeout, exempt). The answer is written to review.json and the
    version's tags; an approval promotes through the journaled move. Returns what was done, in words.
    """
    who = (reviewer or "").strip()
    if not who:
        raise ConfigError(
            f"a review of {model_name} version {version} needs the reviewer's name; got none "
            "(--who on the command line, the form's `reviewer` field in the Prefect UI)"
        )
    client = connect(uri)
    described = _version(client, uri, model_name, version).description or ""
    with promotion_lock(uri, model_name):
        refuse_unfinished(client, uri, model_name)
        record = read_record(client, uri, model_name, version)
        champion = aliases_of(client, uri, model_name).get(CHAMPION)
        check_reviewable(record, model_name, champion)
        allowed = [] if automatic else _allowed(client, uri, record.run_id)
        if allowed and who not in allowed:
            raise ReviewerNotAllowed(
                f"{who!r} may not review {model_name}: the gate run {record.run_id} allows "
                f"{', '.join(allowed)} (review.reviewers); nothing was recorded"
            )
        review = Review(
            "approved" if approve else "rejected",
            who,
            comment,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        tags = {
            "gate.review": review.outcome,
            "gate.reviewer": who,
            "gate.review_comment": comment[:4900],
            "gate.reviewed_at": review.at,
        }

        def write_review() -> None:
            with registry_errors(uri, "record the review"):
                run_id = str(record.run_id)
                text = json.dumps(review.as_tags(), indent=2)
                client.log_text(run_id, text, REVIEW_FILE)
                for key, value in signature_tags("review", model_name, version, sha256(text)).items():
                    client.set_model_version_tag(model_name, version, key, value)
                client.set_tag(run_id, "gate.review", review.outcome)
                for key, value in tags.items():
                    client.set_model_version_tag(model_name, version, key, value)
                # the version's description leads with the answer, above the gate's verdict
                said = review_headline(review)
                client.update_model_version(model_name, version, description=f"{said}\n\n{described}"[:5000])

        if not approve:
            write_review()
            with registry_errors(uri, "record the review"):
                client.set_model_version_tag(model_name, version, "gate.decision", "rejected")
            return f"rejected version {version}; {CHAMPION} stays", review
        previous = move(
            client,
            uri,
            model_name,
            version,
            kind="approve",
            expected_champion=record.replaced,
            evidence=str((record.decision or {}).get("mlflow_run_id") or ""),
            run_id=str(record.run_id),
            by=who,
            tags={version: {"gate.decision": "promoted"}},
            on_intent=write_review,
        )
        return f"approved: version {version} is {CHAMPION} (previous: {previous})", review


def review_of(uri: str, model_name: str, version: str) -> Review | None:
    """The review already recorded for a version (its review.json, say from the command line), or None."""
    client = connect(uri)
    _version(client, uri, model_name, version)
    found = read_record(client, uri, model_name, version).review
    if found is None or found.get("outcome") not in ("approved", "rejected"):
        return None
    return Review(
        found["outcome"],
        str(found.get("reviewer", "")),
        str(found.get("comment", "")),
        str(found.get("at", "")),
    )


def rollback(uri: str, model_name: str, *, reason: str, who: str | None = None) -> dict[str, Any]:
    """Move `champion` back to `previous-champion`; the demoted version keeps alias `rolled-back`."""
    client = connect(uri)
    who = who or os.environ.get("GATEKEEPER_REVIEWER") or getpass.getuser()
    with promotion_lock(uri, model_name):
        refuse_unfinished(client, uri, model_name)
        with registry_errors(uri, "roll back the champion"):
            current = alias_version(client, model_name, CHAMPION)
            previous = alias_version(client, model_name, PREVIOUS)
        if current is None or previous is None:
            raise RegistryNotFound(
                f"{model_name} has no {CHAMPION if current is None else PREVIOUS} alias in the "
                f"registry at {uri}: nothing to roll back to"
            )
        at = datetime.now(UTC).isoformat(timespec="seconds")
        demoted, restored = str(current.version), str(previous.version)
        record = read_record(client, uri, model_name, restored)
        if record.standing() is None:
            raise RegistryConflict(
                f"not rolling back: {PREVIOUS} of {model_name} is version {restored}, which the gate never "
                "promoted, adopted or approved ("
                + (record.problem or f"its recorded decision is {record.outcome!r}, no approval recorded")
                + f"); nothing was moved. Point {PREVIOUS} at a version the gate vouches for, or run the gate"
            )
        plan = {
            **aliases_of(client, uri, model_name),
            CHAMPION: restored,
            ROLLED_BACK: demoted,
            PREVIOUS: None,
        }
        tags = {
            demoted: {
                "gate.decision": "rolled_back",
                "gate.rolled_back_by": who,
                "gate.rollback_reason": reason[:4900],
                "gate.rolled_back_at": at,
            },
            restored: {"gate.restored_by": who, "gate.restored_at": at},
        }
        move(
            client,
            uri,
            model_name,
            restored,
            kind="rollback",
            expected_champion=demoted,
            by=who,
            plan=plan,
            tags=tags,
        )
    return {
        "model_name": model_name,
        "demoted": demoted,
        "restored": restored,
        "by": who,
        "reason": reason,
        "at": at,
    }


def status(uri: str, model_name: str, last: int = 10) -> dict[str, Any]:
    """Aliases and the latest gate decisions of a registered model."""
    client = connect(uri)
    try:
        with registry_errors(uri, "read the model"):
            model = client.get_registered_model(model_name)
    except RegistryNotFound:
        raise RegistryNotFound(f"no registered model {model_name!r} in the registry at {uri}") from None
    with registry_errors(uri, "read the model's status"):
        versions = sorted(client.search_model_versions(f"name='{model_name}'"), key=lambda v: -int(v.version))
        return {
            "model_name": model_name,
            "aliases": {alias: str(version) for alias, version in model.aliases.items()},
            "custody": examine(client, uri, model_name),
            "versions": [
                {
                    "version": str(v.version),
                    "decision": v.tags.get("gate.decision", ""),
                    "reasons": v.tags.get("gate.reasons", ""),
                    "review": v.tags.get("gate.review", ""),
                    "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(
                        timespec="seconds"
                    ),
                }
                for v in versions[:last]
            ],
        }
