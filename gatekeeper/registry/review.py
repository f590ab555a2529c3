"""A person's answer to a review, rollbacks and a model's status: the champion's history in MLflow."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from typing import Any

from gatekeeper.errors import RegistryConflict, RegistryNotFound
from gatekeeper.findings import Review
from gatekeeper.registry import CHAMPION, PREVIOUS, ROLLED_BACK
from gatekeeper.registry.client import alias_version, connect, registry_errors
from gatekeeper.registry.versions import promote


def _version(client: Any, uri: str, model_name: str, version: str) -> Any:
    try:
        with registry_errors(uri, f"read version {version} of {model_name}"):
            return client.get_model_version(model_name, version)
    except RegistryNotFound:
        raise RegistryNotFound(f"{model_name} has no version {version!r} in the registry at {uri}") from None


def settle_review(
    uri: str, model_name: str, version: str, *, approve: bool, comment: str = "", reviewer: str | None = None
) -> tuple[str, Review]:
    """A person's answer to a `needs_review` decision, recorded on the version (and its run).

    Returns what was done, in words, and the review record.
    """
    client = connect(uri)
    reviewer = reviewer or os.environ.get("GATEKEEPER_REVIEWER") or getpass.getuser()
    mv = _version(client, uri, model_name, version)
    with registry_errors(uri, "record the review"):
        state = mv.tags.get("gate.decision")
        if state != "needs_review":
            raise RegistryConflict(
                f"{model_name} version {version} is not waiting for review (its gate decision is "
                f"{state!r}); only a `needs_review` candidate can be approved or rejected"
            )
        review = Review(
            "approved" if approve else "rejected",
            reviewer,
            comment,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        said = f"rejected version {version}; {CHAMPION} stays"
        if approve:
            expected = mv.tags.get("gate.champion_version") or None
            previous = promote(client, model_name, version, expected)
            said = f"approved: version {version} is {CHAMPION} (previous: {previous})"
        tags = {
            "gate.decision": "promoted" if approve else "rejected",
            "gate.review": review.outcome,
            "gate.reviewer": reviewer,
            "gate.review_comment": comment[:4900],
            "gate.reviewed_at": review.at,
        }
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, key, value)
        run_id = mv.tags.get("gate.mlflow_run_id") or mv.run_id
        if run_id:
            client.log_text(run_id, json.dumps(review.as_tags(), indent=2), "review.json")
            client.set_tag(run_id, "gate.review", review.outcome)
        return said, review


def review_of(uri: str, model_name: str, version: str) -> Review | None:
    """The review already recorded on a version (say, from the command line), or None."""
    tags = _version(connect(uri), uri, model_name, version).tags
    if tags.get("gate.review") not in ("approved", "rejected"):
        return None
    return Review(
        tags["gate.review"],
        tags.get("gate.reviewer", ""),
        tags.get("gate.review_comment", ""),
        tags.get("gate.reviewed_at", ""),
    )


def rollback(uri: str, model_name: str, *, reason: str, who: str | None = None) -> dict[str, Any]:
    """Move `champion` back to `previous-champion`; the demoted version keeps alias `rolled-back`."""
    client = connect(uri)
    who = who or os.environ.get("GATEKEEPER_REVIEWER") or getpass.getuser()
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
        client.set_registered_model_alias(model_name, CHAMPION, restored)
        client.set_registered_model_alias(model_name, ROLLED_BACK, demoted)
        client.delete_registered_model_alias(model_name, PREVIOUS)
        for version, tags in (
            (
                demoted,
                {
                    "gate.decision": "rolled_back",
                    "gate.rolled_back_by": who,
                    "gate.rollback_reason": reason[:4900],
                    "gate.rolled_back_at": at,
                },
            ),
            (restored, {"gate.restored_by": who, "gate.restored_at": at}),
        ):
            for key, value in tags.items():
                client.set_model_version_tag(model_name, version, key, value)
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
