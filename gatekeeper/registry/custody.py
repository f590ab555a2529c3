"""Who put the champion there: `verify`, `recover`, and what a gate run or `status` warns about.

The champion is in the gate's custody when the version behind `champion` was promoted by the gate,
adopted, or approved by a named reviewer (its record checked against its hash, `records`), the
aliases are where the gate's last move left them (`moves`' log), and `previous-champion` is the
version it replaced. Anything else was changed outside the gate, and is said so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatekeeper.errors import RegistryNotFound
from gatekeeper.registry import CHAMPION, PREVIOUS
from gatekeeper.registry.client import connect, registry_errors
from gatekeeper.registry.moves import aliases_of, describe, promotion_lock, read_log, recover
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
    return {
        "model_name": name,
        "champion": champion,
        "previous_champion": previous,
        "standing": None if record is None else record.standing(),
        "ok": not problems,
        "problems": problems,
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


def recover_locked(client: Any, uri: str, name: str) -> str | None:
    """Recover with the promotion lock held: a promotion or approval is completed only while the
    version's record still vouches for it (hash intact, promoted or approved)."""
    log = read_log(client, uri, name)
    if log is None or log.get("state") != "moving":
        return None
    refusal = None
    if log.get("kind") in ("promote", "approve"):
        version = str(log.get("version"))
        record = read_record(client, uri, name, version)
        if record.standing() is None:
            refusal = f"the record of version {version} does not vouch for it: " + (
                record.problem or f"its decision is {record.outcome!r} and no approval was recorded"
            )
    said = recover(client, uri, name, refusal)
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
