"""Alias moves that cannot be half done unseen: one at a time per model, intent first, outcome last.

Every move of `champion` (a promotion, an approval, a rollback) runs under the model's promotion
lock (a file lock beside a local registry, else in the temp folder: one machine), re-reads the
aliases inside it, writes its intent as the registered-model tag `gate.promotion` (state
`moving`: which aliases go from where to where, on which evidence), moves the aliases, then
marks the tag `done`. A move killed half way leaves `moving`: `recover` (and the next gate run,
`status`, `verify`) find it, and complete it or, when it cannot be completed, undo it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gatekeeper.errors import AliasMoved, GateBusyError, RegistryConflict
from gatekeeper.registry import CHALLENGER, CHAMPION, PREVIOUS, ROLLED_BACK, signing
from gatekeeper.registry.client import registry_errors

LOG_TAG = "gate.promotion"
ORDER = (PREVIOUS, ROLLED_BACK, CHAMPION, CHALLENGER)  # the order aliases are moved in
PAUSE_ENV = "GATEKEEPER_TEST_PAUSE"  # "<point>:<seconds>[:<flag file>]": tests kill a move at a named point
LOCK_WAIT_SECONDS = 120.0
Aliases = dict[str, str | None]


def pause(point: str) -> None:
    """Sleep at a named point when the environment asks (the tests' way to kill a move mid-way); with a
    flag file, create it first, so a test acts once the point is reached rather than guessing when."""
    wanted, _, rest = os.environ.get(PAUSE_ENV, "").partition(":")
    if wanted == point:
        seconds, _, flag = rest.partition(":")
        if flag:
            Path(flag).touch()
        time.sleep(float(seconds or 30))


def lock_path(uri: str, name: str, what: str = "promote") -> Path:
    """Where a lock of the model lives: beside a sqlite or file store, else in the temp folder."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    if uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent / "locks"
    elif uri.startswith("file://") or "://" not in uri:
        folder = Path(uri.removeprefix("file://")) / "locks"
    else:
        digest = hashlib.sha256(uri.encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"gatekeeper-locks-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{what}-{safe}.lock"


@contextmanager
def promotion_lock(uri: str, name: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the model's promotion lock (released by the OS if the process dies)."""
    from filelock import FileLock, Timeout

    path = lock_path(uri, name)
    try:
        with FileLock(str(path), timeout=wait):
            yield
    except Timeout:
        raise GateBusyError(
            f"another promotion of {name} held {path} for more than {wait:g} s; nothing was moved: try again"
        ) from None


def aliases_of(client: Any, uri: str, name: str) -> Aliases:
    with registry_errors(uri, f"read the aliases of {name}"):
        model = client.get_registered_model(name)
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def read_log(client: Any, uri: str, name: str) -> dict[str, Any] | None:
    """The last alias move the gate started on `name` (the `gate.promotion` tag), or None."""
    with registry_errors(uri, f"read the promotion log of {name}"):
        text = (client.get_registered_model(name).tags or {}).get(LOG_TAG)
    if not text:
        return None
    try:
        log = json.loads(text)
    except ValueError:
        return {"state": "unreadable", "raw": text[:200]}
    return log if isinstance(log, dict) else {"state": "unreadable", "raw": text[:200]}


def _journal_text(name: str, log: dict[str, Any]) -> str:
    """What a journal entry's signature is over: the model and the entry, without its signature."""
    body = {k: v for k, v in log.items() if k != "signature"}
    return f"journal:{name}:" + json.dumps(body, sort_keys=True)


def write_log(client: Any, uri: str, name: str, log: dict[str, Any]) -> None:
    """The journal entry as the model's `gate.promotion` tag, signed when the gate has a key."""
    entry = {k: v for k, v in log.items() if k != "signature"}
    signature = signing.sign(_journal_text(name, entry))
    if signature is not None:
        entry["signature"] = signature
    with registry_errors(uri, f"write the promotion log of {name}"):
        client.set_registered_model_tag(name, LOG_TAG, json.dumps(entry, sort_keys=True))


def journal_verdict(name: str, log: dict[str, Any]) -> signing.Verdict:
    """Whether the journal entry is signed by this gate's key (`signing.check`)."""
    return signing.check(_journal_text(name, log), log.get("signature"))


def journal_problem(name: str, log: dict[str, Any]) -> str | None:
    """Why the journal entry is not this gate's (forged, or unsigned where a key signs), or None.
    An unsigned entry is accepted while no signing key is set."""
    verdict = journal_verdict(name, log)
    if verdict == "forged":
        return (
            f"the {LOG_TAG} tag of {name} carries a signature that is not this gate's key's: "
            "forged or altered"
        )
    if verdict == "unsigned":
        return f"the {LOG_TAG} tag of {name} is not signed, and this gate signs every move it journals"
    return None


def describe(log: dict[str, Any]) -> str:
    """One move in words: 'promote version 3 (champion 2 -> 3, previous-champion 1 -> 2) by gate, at ...'."""
    before, after = log.get("before", {}), log.get("after", {})
    changes = ", ".join(
        f"{a} {before.get(a) or '-'} -> {after.get(a) or '-'}" for a in ORDER if before.get(a) != after.get(a)
    )
    return (
        f"{log.get('kind')} of version {log.get('version')} ({changes}) by {log.get('by')} at {log.get('at')}"
    )


def _apply(client: Any, uri: str, name: str, target: Aliases) -> None:
    """Set the aliases to `target` (None: absent), one call at a time, skipping those already right."""
    with registry_errors(uri, f"move the aliases of {name}"):
        for i, alias in enumerate(ORDER):
            now = aliases_of(client, uri, name).get(alias)
            want = target.get(alias)
            if now == want:
                continue
            if want is None:
                client.delete_registered_model_alias(name, alias)
            else:
                client.set_registered_model_alias(name, alias, want)
            if i < len(ORDER) - 1:
                pause("between-aliases")


def _finish(client: Any, uri: str, name: str, log: dict[str, Any], state: str) -> None:
    """Move the aliases as the log says, write its version tags, mark it finished (idempotent)."""
    _apply(client, uri, name, log["after"])
    with registry_errors(uri, f"record the {log['kind']} on the versions"):
        for version, tags in (log.get("tags") or {}).items():
            for key, value in tags.items():
                client.set_model_version_tag(name, version, key, value)
    pause("before-outcome")
    write_log(client, uri, name, {**log, "state": state, "finished_at": _now()})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def refuse_unfinished(client: Any, uri: str, name: str) -> None:
    log = read_log(client, uri, name)
    if log is not None and log.get("state") == "moving":
        raise RegistryConflict(
            f"an earlier move of {name}'s aliases did not finish ({describe(log)}); nothing was moved now: "
            f"run `gatekeeper recover --model {name}` first"
        )


def plan_promotion(before: Aliases, version: str) -> Aliases:
    """The aliases after `version` becomes champion: the old champion becomes previous-champion."""
    after = dict(before)
    if before.get(CHAMPION) is not None:
        after[PREVIOUS] = before[CHAMPION]
    after[CHAMPION] = version
    if before.get(CHALLENGER) == version:
        after[CHALLENGER] = None
    return after


def move(
    client: Any,
    uri: str,
    name: str,
    version: str,
    *,
    kind: str,
    expected_champion: str | None,
    evidence: str = "",
    run_id: str = "",
    by: str = "gate",
    plan: Aliases | None = None,
    tags: dict[str, dict[str, str]] | None = None,
    on_intent: Callable[[], None] | None = None,
) -> str | None:
    """Make `version` champion (or move as `plan` says), journaled; call with the promotion lock held.

    Refuses on stale evidence (the champion is not `expected_champion`) and on an unfinished earlier
    move. `on_intent` runs once the intent is written, before any alias moves.
    Idempotent: a version that already is champion is left as it is. Returns the previous champion.
    """
    refuse_unfinished(client, uri, name)
    before = aliases_of(client, uri, name)
    current = before.get(CHAMPION)
    pause("after-read")
    if current == version and plan is None:
        return current
    if current != expected_champion:
        raise AliasMoved(
            f"alias {CHAMPION} of {name} moved from version {expected_champion} to {current} since "
            f"the evidence was gathered; not moving it to version {version} on stale evidence. "
            "Run the gate again."
        )
    after = plan if plan is not None else plan_promotion(before, version)
    if plan is None:  # the trail of a promotion: which champion it replaced
        tags = {**(tags or {})}
        tags[version] = {**tags.get(version, {}), "gate.previous_champion": current or ""}
    log = {
        "kind": kind,
        "version": version,
        "before": {a: before.get(a) for a in ORDER},
        "after": {a: after.get(a) for a in ORDER},
        "evidence": evidence,
        "run_id": run_id,
        "by": by,
        "at": _now(),
        "pid": os.getpid(),
        "state": "moving",
        "tags": tags or {},
    }
    write_log(client, uri, name, log)
    pause("after-intent")
    if on_intent is not None:
        on_intent()
    _finish(client, uri, name, log, "done")
    return current


def recover(
    client: Any, uri: str, name: str, refusal: str | None = None, undo_refusal: str | None = None
) -> str | None:
    """Complete or undo an unfinished move (call with the promotion lock held); say which, or None.

    It is completed when the champion is still where the move left it (its start or its end) and the
    caller found no `refusal` (why the evidence no longer holds); otherwise the aliases are put back
    as they were before it, unless the caller found an `undo_refusal` (the version it would put back
    has no standing): then nothing moves, and the entry stays unfinished for a person to look at.
    """
    log = read_log(client, uri, name)
    if log is None or log.get("state") != "moving":
        return None
    now = aliases_of(client, uri, name)
    ends = (log["before"].get(CHAMPION), log["after"].get(CHAMPION))
    what = describe(log)
    if refusal is None and now.get(CHAMPION) in ends:
        _finish(client, uri, name, log, "completed")
        return f"completed the unfinished {what}: {CHAMPION} is version {log['after'].get(CHAMPION)}"
    if undo_refusal is not None:
        return (
            f"did not complete the unfinished {what} ({refusal or f'{CHAMPION} moved elsewhere meanwhile'}), "
            f"nor undo it ({undo_refusal}): no alias was moved; look at the {LOG_TAG} tag and the aliases, "
            "and delete the tag once they are as they should be"
        )
    _apply(client, uri, name, log["before"])
    write_log(client, uri, name, {**log, "state": "undone", "finished_at": _now()})
    why = refusal or f"{CHAMPION} moved elsewhere meanwhile"
    return f"undid the unfinished {what} ({why}): {CHAMPION} is version {log['before'].get(CHAMPION)} again"
