"""The gate's own record of a model version, read back and checked: what a review and `verify` trust.

Tags on a model version are editable by anyone with registry access, so they only point at the
record; the record is what the gate logged in its MLflow run: `decision.json` (its sha256 in the
version tag `gate.decision_sha256`), `review.json` once a person answered, and for an adopted
champion `reference.json` (its sha256 in `gate.reference_sha256`). A tag that disagrees with the
file it points at makes the record untrusted, and an untrusted record promotes nothing.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.errors import RegistryConflict, RegistryNotFound
from gatekeeper.registry import signing
from gatekeeper.registry.client import registry_errors

DECISION_FILE = "decision.json"
REVIEW_FILE = "review.json"
REFERENCE_FILE = "reference.json"
DECISION_SHA_TAG = "gate.decision_sha256"
RUN_TAG = "gate.mlflow_run_id"
SIGNATURE_TAGS = {
    "decision": "gate.decision_signature",
    "review": "gate.review_signature",
    "reference": "gate.reference_signature",
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Record:
    """What the gate recorded about one version, after checking the tags against the files."""

    version: str
    run_id: str | None = None  # the gate run that judged it
    decision: dict[str, Any] | None = None  # its decision.json, when the hash matched
    review: dict[str, Any] | None = None  # its review.json: a person's final answer
    adopted_run_id: str | None = None  # the adoption that vouched for it, when its hash matched
    problem: str | None = None  # why the gate record cannot be trusted (None: trusted or absent)
    warnings: tuple[str, ...] = ()  # trusted, with a caveat (unsigned, written before signing began)

    @property
    def exists(self) -> bool:
        return self.run_id is not None or self.adopted_run_id is not None or self.problem is not None

    @property
    def outcome(self) -> str | None:
        return None if self.decision is None else str(self.decision.get("decision"))

    def standing(self) -> str | None:
        """How this version may legitimately be champion, in words, or None when it may not."""
        if self.problem is not None:
            return None
        review = self.review or (self.decision or {}).get("review") or {}
        if review.get("outcome") == "approved" and str(review.get("reviewer", "")).strip():
            return f"approved by {review['reviewer']} (run {self.run_id})"
        if self.outcome in ("promoted", "bootstrap") and not review:
            return f"{self.outcome} by the gate (run {self.run_id})"
        if self.adopted_run_id is not None:
            return f"adopted by the gate (run {self.adopted_run_id})"
        return None

    @property
    def replaced(self) -> str | None:
        """The champion this version was judged against (and so replaced), from decision.json."""
        value = (self.decision or {}).get("champion_version")
        return None if value in (None, "") else str(value)


def read_text(client: Any, uri: str, run_id: str, path: str) -> str | None:
    """An artifact of a run as text, or None when the run does not hold it."""
    try:
        with registry_errors(uri, f"read {path} of run {run_id}"), tempfile.TemporaryDirectory() as tmp:
            return Path(client.download_artifacts(run_id, path, tmp)).read_text()
    except RegistryNotFound:
        return None


def _json(text: str, where: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"{where} is not valid JSON ({exc})"
    return (data, None) if isinstance(data, dict) else (None, f"{where} does not hold a JSON object")


def signature_tags(kind: str, model: str, version: str, digest: str) -> dict[str, str]:
    """The tag signing a record (none without a signing key)."""
    signature = signing.sign(signing.statement(kind, model, version, digest))
    return {} if signature is None else {SIGNATURE_TAGS[kind]: signature}


def _signed(
    kind: str, name: str, version: str, digest: str, tags: dict[str, str], created: int | None
) -> tuple[str | None, str | None]:
    """(problem, warning) of a record's signature: forged or refused unsigned, or unsigned accepted."""
    what = f"the {kind} record of {name} version {version}"
    verdict = signing.check(signing.statement(kind, name, version, digest), tags.get(SIGNATURE_TAGS[kind]))
    if verdict == "forged":
        return f"{what} carries a signature that is not this gate's key's: forged or altered", None
    if verdict == "unsigned":
        problem = signing.unsigned_problem(what, created)
        return problem, None if problem else f"{what} is not signed (written before signing began?)"
    return None, None


def _gated(
    client: Any, uri: str, name: str, version: str, tags: dict[str, str], created: int | None = None
) -> Record:
    run_id = tags[RUN_TAG]
    where = f"{DECISION_FILE} of run {run_id}"
    said = tags.get(DECISION_SHA_TAG)
    text = read_text(client, uri, run_id, DECISION_FILE)
    if text is None:
        return Record(
            version, run_id, problem=f"{name} version {version}: run {run_id} holds no {DECISION_FILE}"
        )
    if not said:
        return Record(
            version,
            run_id,
            problem=f"{name} version {version} has no {DECISION_SHA_TAG} tag: its {where} is not bound to it "
            "(recorded before evidence hashes, or the tag was removed)",
        )
    if sha256(text) != said:
        return Record(
            version,
            run_id,
            problem=f"{where} hashes to {sha256(text)[:12]}…, but {name} version {version}'s "
            f"{DECISION_SHA_TAG} tag says {said[:12]}…: the record or the tag was changed after the gate "
            "wrote it",
        )
    decision, bad = _json(text, where)
    if decision is None:
        return Record(version, run_id, problem=bad)
    problem, warning = _signed("decision", name, version, said, tags, created)
    if problem:
        return Record(version, run_id, problem=problem)
    warnings: tuple[str, ...] = (warning,) if warning else ()
    about = (str(decision.get("model_name")), str(decision.get("candidate_version")))
    if about != (name, version):
        return Record(
            version,
            run_id,
            problem=f"{where} is about version {about[1]} of {about[0]}, not version {version} of {name}: "
            f"the version's {RUN_TAG} tag points at another run's record",
        )
    review, bad = (None, None)
    review_text = read_text(client, uri, run_id, REVIEW_FILE)
    if review_text is not None:
        review, bad = _json(review_text, f"{REVIEW_FILE} of run {run_id}")
        review = review or {"outcome": "unreadable"}  # a review file exists: the review is decided
        problem, warning = _signed("review", name, version, sha256(review_text), tags, created)
        if problem:
            return Record(version, run_id, decision, review, problem=problem)
        warnings += (warning,) if warning else ()
    return Record(version, run_id, decision, review, warnings=warnings)


def _adopted(
    client: Any, uri: str, name: str, version: str, tags: dict[str, str], created: int | None = None
) -> str | None:
    """The adoption run that vouches for `version` (reference.json matches its tag, and its
    signature holds), or None."""
    run_id = tags["gate.reference_run_id"]
    text = read_text(client, uri, run_id, REFERENCE_FILE)
    if text is None or sha256(text) != tags.get("gate.reference_sha256"):
        return None
    if _signed("reference", name, version, sha256(text), tags, created)[0]:
        return None
    data, _ = _json(text, REFERENCE_FILE)
    if data is None or (str(data.get("model_name")), str(data.get("version"))) != (name, version):
        return None
    return run_id


def read_record(client: Any, uri: str, name: str, version: str) -> Record:
    """The gate's record of `version`, checked: decision.json against its hash tag, review.json, adoption."""
    with registry_errors(uri, f"read version {version} of {name}"):
        found = client.get_model_version(name, version)
    tags, created = dict(found.tags or {}), getattr(found, "creation_timestamp", None)
    record = _gated(client, uri, name, version, tags, created) if tags.get(RUN_TAG) else Record(version)
    if tags.get("gate.reference_run_id"):
        adopted = _adopted(client, uri, name, version, tags, created)
        if adopted is None and record.standing() is None:
            return Record(
                version,
                record.run_id,
                problem=f"{name} version {version}: the adoption record of run "
                f"{tags['gate.reference_run_id']} "
                "does not match its gate.reference_sha256 tag (or is about another version)",
            )
        if adopted is not None:
            return Record(
                version,
                record.run_id,
                record.decision,
                record.review,
                adopted,
                record.problem,
                record.warnings,
            )
    return record


def check_reviewable(record: Record, name: str, champion: str | None) -> None:
    """Refuse a review unless the gate's own record waits for one, for this version, against `champion`."""
    version = record.version
    if record.problem is not None:
        raise RegistryConflict(f"not reviewing: {record.problem}")
    if record.decision is None:
        raise RegistryConflict(
            f"{name} version {version} has no gate decision record (no {RUN_TAG} tag pointing at a run with "
            f"{DECISION_FILE}); only a candidate the gate judged `needs_review` can be approved or rejected"
        )
    if record.review is not None:
        raise RegistryConflict(
            f"{name} version {version} was already reviewed ({REVIEW_FILE} in run {record.run_id}: "
            f"{record.review.get('outcome')} by {record.review.get('reviewer') or '?'}); a review is final: "
            "run the gate again for a new decision"
        )
    if record.outcome != "needs_review":
        raise RegistryConflict(
            f"{name} version {version} is not waiting for review: the gate's recorded decision "
            f"({DECISION_FILE} of run {record.run_id}) is {record.outcome!r}; only a `needs_review` "
            "candidate can be approved or rejected"
        )
    if record.replaced != champion:
        raise RegistryConflict(
            f"{name} version {version} was judged against champion version {record.replaced}, but the "
            f"champion is now version {champion}: its evidence is stale; run the gate again"
        )
