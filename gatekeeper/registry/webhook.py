"""MLflow registry webhooks, read without MLflow or a web framework (pure): verify a delivery's
signature, parse its payload, decide whether it asks for a gate run, remember delivery ids.

MLflow 3 (mlflow/webhooks/delivery.py) POSTs JSON `{"entity", "action", "timestamp", "data"}` with
headers `X-MLflow-Delivery-Id` (a uuid), `X-MLflow-Timestamp` (Unix seconds) and, when the webhook
has a secret, `X-MLflow-Signature: v1,<base64 HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>")>`.
It retries a delivery on 429/5xx with the same delivery id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.errors import GatekeeperError

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_HEADER = "x-mlflow-delivery-id"
SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 300  # a delivery older (or newer) than this is refused: no replay of old requests
MODEL_VERSION_CREATED = "gatekeeper.model_version.created"  # the Prefect event a new version becomes


class WebhookRejected(GatekeeperError):
    """The request is not a delivery signed with our secret (answer 401, do nothing)."""


class WebhookPayloadError(GatekeeperError, ValueError):
    """A signed delivery whose body is not what MLflow sends (answer 400, do nothing)."""


def sign(secret: str, delivery_id: str, timestamp: str, body: str) -> str:
    """The signature MLflow puts in X-MLflow-Signature for this delivery."""
    digest = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


MAX_BODY_BYTES = 4 * 1024 * 1024  # MLflow's deliveries are a few kB; a larger body is refused unread


class WebhookTooLarge(GatekeeperError):
    """A body larger than the receiver reads (answer 413, stop reading)."""


def check_headers(secret: str, headers: dict[str, str], now: float | None = None) -> tuple[str, str, str]:
    """(delivery id, timestamp, signature) of a request that may be a fresh signed delivery, judged
    from its headers alone, before any of its body is read; WebhookRejected saying why otherwise."""
    if not secret:
        raise WebhookRejected("the receiver has no secret: it accepts nothing")
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER) if not lower.get(h)]
    if missing:
        raise WebhookRejected(f"unsigned request: header(s) {missing} missing")
    delivery, stamp, signature = lower[DELIVERY_HEADER], lower[TIMESTAMP_HEADER], lower[SIGNATURE_HEADER]
    if not re.fullmatch(r"[0-9]{1,12}", stamp):  # ASCII digits: "³" is a digit to str.isdigit
        raise WebhookRejected(f"X-MLflow-Timestamp must be Unix seconds; got {stamp[:40]!r}")
    age = (time.time() if now is None else now) - int(stamp)
    if abs(age) > TOLERANCE_SECONDS:
        raise WebhookRejected(
            f"stale delivery: signed {age:+.0f} s from now (tolerance {TOLERANCE_SECONDS} s)"
        )
    if len(delivery) > 200 or len(signature) > 200:
        raise WebhookRejected("X-MLflow-Delivery-Id or X-MLflow-Signature longer than MLflow sends")
    return delivery, stamp, signature


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> str:
    """The delivery id of a correctly signed, fresh delivery; WebhookRejected saying why otherwise."""
    delivery, stamp, signature = check_headers(secret, headers, now)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("the body is not UTF-8 text, so it cannot carry a valid signature") from None
    if not hmac.compare_digest(sign(secret, delivery, stamp, text).encode(), signature.encode()):
        raise WebhookRejected("wrong signature: not signed with this receiver's secret")
    return delivery


@dataclass(frozen=True)
class Delivery:
    """What one delivery says: the event, and for a model version its model, version and tags."""

    delivery_id: str
    entity: str
    action: str
    name: str | None = None
    version: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    run_id: str | None = None

    @property
    def event(self) -> str:
        return f"{self.entity}.{self.action}"

    @property
    def candidate(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def version_key(self) -> str:
        """One gate run per model version, whatever the number of deliveries saying it was created."""
        return f"version:{self.name}/{self.version}"


def parse(delivery_id: str, body: bytes) -> Delivery:
    """The delivery's payload, or WebhookPayloadError naming the field, what was seen and expected."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookPayloadError(f"the body must be JSON; it is not ({exc})") from None
    if not isinstance(data, dict):
        raise WebhookPayloadError(f"the body must be a JSON object; got {type(data).__name__}")
    for key in ("entity", "action"):
        if not isinstance(data.get(key), str):
            raise WebhookPayloadError(f"`{key}` must be a string; got {data.get(key)!r}")
    entity, action = data["entity"], data["action"]
    if entity != "model_version":
        return Delivery(delivery_id, entity, action)
    inner = data.get("data")
    if not isinstance(inner, dict):
        raise WebhookPayloadError(f"`data` must be an object for a model_version event; got {inner!r}")
    name, version = inner.get("name"), inner.get("version")
    if not isinstance(name, str) or not name:
        raise WebhookPayloadError(f"`data.name` must be a registered model name; got {name!r}")
    if isinstance(version, bool) or not re.fullmatch(r"[0-9]{1,18}", str(version)):
        raise WebhookPayloadError(f"`data.version` must be a version number; got {version!r}")
    tags = inner.get("tags") or {}
    if not isinstance(tags, dict):
        raise WebhookPayloadError(f"`data.tags` must be an object; got {tags!r}")
    return Delivery(
        delivery_id,
        entity,
        action,
        name=name,
        version=str(version),
        tags={str(k): str(v) for k, v in tags.items()},
        source=_text(inner.get("source")),
        run_id=_text(inner.get("run_id")),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def skip_reason(delivery: Delivery, models: frozenset[str]) -> str | None:
    """Why this delivery starts no gate run, or None when it should (a new version of a gated model)."""
    if delivery.event != "model_version.created":
        return f"event {delivery.event} does not start a gate run (only model_version.created does)"
    if models and delivery.name not in models:
        return f"model {delivery.name!r} is not gated by this receiver (it gates {sorted(models)})"
    own = sorted(k for k in delivery.tags if k.startswith("gate."))
    if own:
        # the gate's own candidates, and runs:/ candidates it registers, are judged in the run that
        # registered them: starting another run for them would be the gate triggering itself
        return f"version {delivery.version} was registered by the gate itself (tags {own[:3]})"
    return None


class DeliveryLog:
    """Delivery ids and model versions already acted on, in a JSON file shared by every receiver
    process (file-locked), so MLflow's retries, a burst of the same delivery and many deliveries of
    one version start one gate run. Keeps the newest `keep`."""

    def __init__(self, folder: str | Path, keep: int = 10_000) -> None:
        self.path = Path(folder) / "deliveries.json"
        self.keep = keep
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def lock(self) -> Any:
        from filelock import FileLock

        return FileLock(str(self.path) + ".lock", timeout=60)

    def _read(self) -> list[str]:
        if not self.path.exists():
            return []
        try:
            ids = json.loads(self.path.read_text())
        except json.JSONDecodeError as exc:
            raise GatekeeperError(
                f"the delivery log {self.path} is not valid JSON ({exc}): move it aside"
            ) from None
        return [str(i) for i in ids] if isinstance(ids, list) else []

    def seen(self, *keys: str) -> bool:
        """Whether any of `keys` (a delivery id, a model's version) was acted on; call with `lock()` held."""
        known = set(self._read())
        return any(key in known for key in keys)

    def record(self, *keys: str) -> None:
        """Call with `lock()` held; written to a temporary file and renamed, so never half-written."""
        ids = [i for i in self._read() if i not in keys] + list(keys)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(ids[-self.keep :]))
        tmp.replace(self.path)
