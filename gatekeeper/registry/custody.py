"""Who put the champion there: `verify`, `recover`, and what a gate run or `status` warns about.

The champion is in the gate's custody when the version behind `champion` was promoted by the gate,
adopted, or approved by a named reviewer (its record checked against its hash, `records`), the
aliases are where the gate's last move left them (`moves`' log), and `previous-champion` is the
version it replaced. Anything else was changed outside the gate, and is said so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatekeeper.errors import RegistryNotFound
from gatekeeper.registry import CHAMPION, PREVIOUS, PROMOTING
from gatekeeper.registry.client import connect, registry_errors
from gatekeeper.registry.moves import (
    LOG_TAG,
    aliases_of,
    describe,
    journal_problem,
    journal_verdict,
    move,
    promotion_lock,
    read_log,
    recover,
)
from gatekeeper.registry.records import Record, read_record
from gatekeeper.vocabulary import Check

if TYPE_CHECKING:
    from gatekeeper.train.models import TrainedModel


def _expected(log: dict[str, Any]) -> dict[str, Any] | None:
    """Where the gate's last finished move left the aliases, or None when there is no such move."""
    state = log.get("state")
    if state in ("done", "completed"):
        return dict(log.get("after") or {})
    if state == "undone":
        return dict(log.get("before") or {})
    return None


def _record_problem(name: str, champion: str, record: Record) -> str | None:
    if record.standing() is not None:
        return None
    if record.problem is not None:
        why = record.problem
    elif record.decision is not None:
        review = f", review {record.review.get('outcome')}" if record.review else ""
        why = f"its recorded gate decision is {record.outcome!r}{review} (run {record.run_id})"
    else:
        why = "it has no gate record at all (moved there by hand?)"
    return (
        f"{CHAMPION} of {name} is version {champion}, which the gate never promoted, adopted or "
        f"approved: {why}"
    )


def examine(client: Any, uri: str, name: str) -> dict[str, Any]:
    """The champion's custody: its standing, the problems found (empty: in custody), an unfinished move."""
    aliases = aliases_of(client, uri, name)
    log = read_log(client, uri, name)
    champion, previous = aliases.get(CHAMPION), aliases.get(PREVIOUS)
    problems: list[str] = []
    unfinished = log if log is not None and log.get("state") == "moving" else None
    if unfinished is not None:
        problems.append(
            f"an alias move did not finish: {describe(unfinished)}; run `gatekeeper recover --model {name}`"
        )
    elif log is not None and log.get("state") == "unreadable":
        problems.append(
            f"the registered model's gate.promotion tag is not the gate's JSON: {log.get('raw')!r}"
        )
    warnings: list[str] = []
    distrust = None if log is None or log.get("state") == "unreadable" else journal_problem(name, log)
    if distrust is not None and log is not None:  # an unsigned finished entry: from before signing
        unsigned_before = unfinished is None and journal_verdict(name, log) == "unsigned"
        (warnings if unsigned_before else problems).append(distrust)
        if not unsigned_before:
            log = None if unfinished is None else log  # a forged entry says nothing of where aliases belong
    tagged = _version_tags(client, uri, name)
    moved = sorted((v for v, t in tagged.items() if "gate.previous_champion" in t), key=int)
    if log is None and distrust is None and moved:
        problems.append(
            f"{name} has no {LOG_TAG} journal, though the gate moved {CHAMPION} onto version(s) "
            f"{', '.join(moved)} (their gate.previous_champion tags): the journal was deleted, and "
            "where the aliases should be cannot be checked"
        )
    if log is not None:  # the gate journals its moves: a version it promoted was moved by one
        never = sorted(
            (v for v, t in tagged.items() if t.get("gate.decision") == "promoted" and v not in moved), key=int
        )
        problems += [
            f"version {v} of {name} is tagged gate.decision=promoted, but no journaled move of the gate "
            f"made it {CHAMPION} (no gate.previous_champion tag): the tag was set by hand"
            for v in never
        ]
    if unfinished is None:
        problems += [
            f"version {v} of {name} is tagged gate.decision={PROMOTING}, but no move of its aliases is "
            f"under way: the gate stopped between recording its decision and moving {CHAMPION}; run "
            f"`gatekeeper recover --model {name}`"
            for v in promoting_versions(client, uri, name, tagged)
        ]
    record = None if champion is None else read_record(client, uri, name, champion)
    if champion is not None and record is not None:
        problem = _record_problem(name, champion, record)
        if problem:
            problems.append(problem)
    expected = None if log is None or unfinished is not None else _expected(log)
    if expected is not None:
        if expected.get(CHAMPION) != champion:
            problems.append(
                f"{CHAMPION} of {name} is version {champion}, but the gate's last move "
                f"({describe(log or {})}) "
                f"left version {expected.get(CHAMPION)}: the alias was moved outside the gate"
            )
        elif expected.get(PREVIOUS) != previous:
            problems.append(
                f"{PREVIOUS} of {name} is version {previous}, but the gate's last move left version "
                f"{expected.get(PREVIOUS)} (the version champion {champion} replaced)"
            )
    elif log is None and record is not None and record.adopted_run_id is None and record.standing():
        if record.replaced != previous:  # no move log yet (older gate): check against the record itself
            problems.append(
                f"{PREVIOUS} of {name} is version {previous}, but champion {champion} replaced version "
                f"{record.replaced} ({record.standing()})"
            )
    warnings += [] if record is None else list(record.warnings)
    return {
        "model_name": name,
        "champion": champion,
        "previous_champion": previous,
        "standing": None if record is None else record.standing(),
        "ok": not problems,
        "problems": problems,
        "warnings": warnings,
        "unfinished": unfinished,
        "last_move": None if log is None else describe(log) + f" [{log.get('state')}]",
    }


def verify(uri: str, name: str) -> dict[str, Any]:
    """`gatekeeper verify`: is the champion in the gate's custody? (see `examine`)."""
    client = connect(uri)
    try:
        with registry_errors(uri, "read the model"):
            client.get_registered_model(name)
    except RegistryNotFound:
        raise RegistryNotFound(f"no registered model {name!r} in the registry at {uri}") from None
    return examine(client, uri, name)


def recover_moves(uri: str, name: str) -> str:
    """`gatekeeper recover`: complete or undo an unfinished alias move of `name`, and say which."""
    client = connect(uri)
    with promotion_lock(uri, name):
        return recover_locked(client, uri, name) or f"{name}: no unfinished alias move; nothing to recover"


def _vouch(
    client: Any, uri: str, name: str, version: str | None, log: dict[str, Any], ending: bool
) -> str | None:
    """Why the move's journal may not put `version` in `champion`, or None: its record must vouch
    for it (promoted, adopted or approved, hash and signature intact) and, for the version a
    promotion or approval ends on, be the record the journal names (its run)."""
    if version is None:
        return None
    record = read_record(client, uri, name, version)
    if record.standing() is None:
        return f"the record of version {version} does not vouch for it: " + (
            record.problem or f"its decision is {record.outcome!r} and no approval was recorded"
        )
    if ending and log.get("kind") in ("promote", "approve") and str(log.get("version")) != version:
        return (
            f"the journal says it {log.get('kind')}s version {log.get('version')}, but moves "
            f"{CHAMPION} to {version}"
        )
    if ending and log.get("kind") == "promote" and log.get("run_id") != record.run_id:
        return (
            f"the journal names gate run {log.get('run_id') or '(none)'}, but version {version} was judged "
            f"in run {record.run_id}: the entry is not about that decision"
        )
    before = (log.get("before") or {}).get(CHAMPION)
    if ending and log.get("kind") in ("promote", "approve") and record.replaced != before:
        return (
            f"version {version} was judged against champion version {record.replaced}, but the journal "
            f"moves {CHAMPION} from version {before}: its evidence is not about that champion"
        )
    return None


def _version_tags(client: Any, uri: str, name: str) -> dict[str, dict[str, str]]:
    with registry_errors(uri, f"read the versions of {name}"):
        found = client.search_model_versions(f"name='{name}'")
    return {str(v.version): dict(v.tags or {}) for v in found}


def promoting_versions(
    client: Any, uri: str, name: str, tags: dict[str, dict[str, str]] | None = None
) -> list[str]:
    """Versions whose decision to promote was recorded, and whose move never started or finished
    (from the versions' `tags` when the caller read them already)."""
    tags = _version_tags(client, uri, name) if tags is None else tags
    return sorted((v for v, t in tags.items() if t.get("gate.decision") == PROMOTING), key=int)


def finish_promotions(client: Any, uri: str, name: str) -> list[str]:
    """A promotion recorded but never carried out (the gate stopped between writing its decision and
    journaling its move): carried out now when its record vouches for it and the champion is still
    the one it was judged against; otherwise its version is tagged `error` with why. Call with the
    promotion lock held; says what it did."""
    from gatekeeper.registry.records import DECISION_SHA_TAG
    from gatekeeper.registry.runs import mark_error

    said = []
    for version in promoting_versions(client, uri, name):
        record = read_record(client, uri, name, version)
        champion = aliases_of(client, uri, name).get(CHAMPION)
        if record.standing() is not None and record.replaced == champion:
            with registry_errors(uri, f"read version {version} of {name}"):
                evidence = (client.get_model_version(name, version).tags or {}).get(DECISION_SHA_TAG, "")
            move(
                client,
                uri,
                name,
                version,
                kind="promote",
                expected_champion=champion,
                evidence=evidence,
                run_id=record.run_id or "",
                tags={version: {"gate.decision": str(record.outcome)}},
            )
            said.append(
                f"{name}: carried out the promotion of version {version}, recorded by run {record.run_id} "
                f"but never moved: {CHAMPION} is version {version} (previous: {champion})"
            )
            continue
        why = record.problem or (
            f"it was judged against champion version {record.replaced}, but the champion is now "
            f"version {champion}"
            if record.standing() is not None
            else f"its record does not vouch for it (decision {record.outcome!r})"
        )
        with registry_errors(uri, f"tag version {version} of {name}"):
            mark_error(client, name, version, f"its promotion was recorded but never carried out: {why}")
        said.append(
            f"{name}: version {version}'s promotion was recorded but never carried out ({why}): tagged error"
        )
    return said


def recover_locked(client: Any, uri: str, name: str) -> str | None:
    """Recover with the promotion lock held, trusting nothing the journal says that a record cannot
    back: the entry must be this gate's (signed, when it signs), the version it would complete onto
    must have a record vouching for it, about that move, and so must the version an undo would put
    back; otherwise nothing moves and the problem is said."""
    log = read_log(client, uri, name)
    if log is None or log.get("state") != "moving":
        return "; ".join(finish_promotions(client, uri, name)) or None
    distrust = journal_problem(name, log)
    if distrust is not None:
        return (
            f"{name}: not acting on the unfinished move in its journal ({describe(log)}): {distrust}; "
            f"no alias was moved. If no gate move was interrupted, delete the {LOG_TAG} tag"
        )
    after, before = (log.get("after") or {}).get(CHAMPION), (log.get("before") or {}).get(CHAMPION)
    now = aliases_of(client, uri, name).get(CHAMPION)
    if log.get("kind") == "adopt" and after == before == now:  # completing only writes its tags
        refusal = undo_refusal = None
    else:
        refusal = _vouch(client, uri, name, None if after is None else str(after), log, ending=True)
        undo_refusal = _vouch(client, uri, name, None if before is None else str(before), log, ending=False)
        if before is None and now not in (None, after):
            undo_refusal = f"undoing it would remove {CHAMPION} (version {now}), which it never set"
    said = recover(client, uri, name, refusal, undo_refusal)
    return None if said is None else f"{name}: {said}"


def recover_before_gating(uri: str, name: str) -> list[Check]:
    """What a gate run does first: finish or undo an interrupted move, as a warning in its decision."""
    client = connect(uri)
    try:
        with registry_errors(uri, "read the model"):
            client.get_registered_model(name)
    except RegistryNotFound:
        return []
    with promotion_lock(uri, name):
        said = recover_locked(client, uri, name)
    return [] if said is None else [Check("unfinished_move", "warn", said)]


def custody_checks(champion: TrainedModel | None) -> list[Check]:
    """A champion outside the gate's custody, as warnings in a gate run's decision."""
    if champion is None:
        return []
    return [
        Check(
            "champion_custody",
            "warn",
            f"{problem}; its record is not used as the reference",
            observed=champion.version,
        )
        for problem in champion.custody
    ]
