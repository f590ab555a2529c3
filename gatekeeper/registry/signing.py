"""The gate's records signed with a key the registry does not hold (HMAC-SHA256, pure).

Tags and artifacts in MLflow can be written by anyone with registry access, so a hash tag binds a
record to its file but not to its author: someone who can write both could forge a consistent
record. With a signing key (`GATEKEEPER_SIGNING_KEY`, or a file named by
`GATEKEEPER_SIGNING_KEY_FILE`, kept where the gate runs, not in the registry) the gate signs what it
writes: each record's hash with the model, version and kind of record (`decision`, `review`,
`reference`), and its journal of alias moves. A record whose signature does not match is not the
gate's. An unsigned record (written before the key, or by someone without it) is accepted with a
warning, unless it belongs to a version created after `GATEKEEPER_SIGNING_SINCE` (ISO date or Unix
seconds: when signing began), which must be signed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from gatekeeper.errors import ConfigError

KEY_ENV = "GATEKEEPER_SIGNING_KEY"
KEY_FILE_ENV = "GATEKEEPER_SIGNING_KEY_FILE"
SINCE_ENV = "GATEKEEPER_SIGNING_SINCE"
PREFIX = "hmac-sha256:"
Verdict = Literal["signed", "unsigned", "forged", "no key"]


def signing_key() -> bytes | None:
    """The key from the environment (or its file), or None: records are then hashed, not signed."""
    value = os.environ.get(KEY_ENV, "")
    path = os.environ.get(KEY_FILE_ENV, "")
    if not value and path:
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"{KEY_FILE_ENV}={path!r}: the signing key file cannot be read ({exc})"
            ) from None
    if not value:
        return None
    if len(value) < 16:
        raise ConfigError(
            f"{KEY_ENV}: a signing key of {len(value)} characters; use 16 or more (32 random bytes)"
        )
    return value.encode()


def statement(kind: str, model: str, version: str, digest: str) -> str:
    """What a record's signature is over: its kind, whose it is, and its content's hash."""
    return f"{kind}:{model}/{version}:{digest}"


def sign(text: str, key: bytes | None = None) -> str | None:
    """The signature of `text`, or None without a key."""
    key = key if key is not None else signing_key()
    if key is None:
        return None
    return PREFIX + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def check(text: str, signature: str | None, key: bytes | None = None) -> Verdict:
    """Whether `signature` is the gate's over `text`: signed, unsigned (none given), forged."""
    key = key if key is not None else signing_key()
    if key is None:
        return "no key"
    if not signature:
        return "unsigned"
    expected = sign(text, key) or ""
    return "signed" if hmac.compare_digest(expected.encode(), signature.encode()) else "forged"


def since() -> float | None:
    """When signing began (Unix seconds), from GATEKEEPER_SIGNING_SINCE; None when not set."""
    value = os.environ.get(SINCE_ENV, "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ConfigError(
            f"{SINCE_ENV}={value!r}: expected an ISO date (2026-12-01T00:00:00+00:00) or Unix seconds"
        ) from None


def unsigned_problem(what: str, created_ms: int | None) -> str | None:
    """Why an unsigned record of a version created at `created_ms` is refused, or None: accepted
    with a warning (created before signing began, or no start given)."""
    start = since()
    if start is None or created_ms is None or created_ms / 1000 < start:
        return None
    return (
        f"{what} is not signed, and its version was created after signing began ({SINCE_ENV}): "
        "it was not written by this gate"
    )
