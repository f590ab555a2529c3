"""Run the gate when a new model version is registered: a small receiver of MLflow registry webhooks.

MLflow POSTs each `model_version.created` delivery here; the receiver verifies its HMAC signature,
drops duplicates (MLflow retries with the same delivery id), and turns a new version of a gated model
into the Prefect event `gatekeeper.model_version.created` on resource `gatekeeper.model.<name>`,
whose deployment trigger (prefect.yaml) runs the gate with `candidate: models:/<name>/<version>`.
Like `label_arrival`, it is the trigger side of the flows, so it lives next to them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gatekeeper.registry.webhook import (
    MAX_BODY_BYTES,
    MODEL_VERSION_CREATED,
    Delivery,
    DeliveryLog,
    WebhookPayloadError,
    WebhookRejected,
    WebhookTooLarge,
    check_headers,
    parse,
    skip_reason,
    verify,
)

logger = logging.getLogger("gatekeeper.webhook")
Emit = Callable[[Delivery], Awaitable[str]]
PATH = "/mlflow-webhook"


def event_id(delivery: Delivery) -> uuid.UUID:
    """The same delivery always becomes the same event id (one id per delivery, traceable)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mlflow-webhook:{delivery.delivery_id}")


async def emit_to_prefect(delivery: Delivery) -> str:
    """Send the event to the Prefect API (PREFECT_API_URL) and wait until it is sent; its id."""
    from prefect.events.clients import get_events_client
    from prefect.events.schemas.events import Event

    from flows.label_arrival import model_resource_id

    event = Event(
        event=MODEL_VERSION_CREATED,
        resource={
            "prefect.resource.id": model_resource_id(str(delivery.name)),
            "prefect.resource.name": str(delivery.name),
            "gatekeeper.model": str(delivery.name),
        },
        payload={
            "model": delivery.name,
            "version": delivery.version,
            "candidate": delivery.candidate,
            "source": delivery.source,
            "run_id": delivery.run_id,
            "delivery_id": delivery.delivery_id,
        },
        id=event_id(delivery),
    )
    async with get_events_client() as client:
        await client.emit(event)
    return str(event.id)


def receiver_app(
    secret: str,
    models: frozenset[str],
    state_dir: str | Path,
    emit: Emit = emit_to_prefect,
    max_body: int = MAX_BODY_BYTES,
) -> Any:
    """The Starlette app: POST /mlflow-webhook (the deliveries), GET /health. A request is judged by
    its headers first (401 without reading it), then read up to `max_body` bytes (413 past it)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    log = DeliveryLog(state_dir)
    one_at_a_time = asyncio.Lock()  # the file lock is per thread: coroutines of this process queue here

    async def read_body(request: Request) -> bytes:
        """The body, read only up to `max_body` bytes (WebhookTooLarge past it, the rest unread)."""
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > max_body:
            raise WebhookTooLarge(f"a body of {int(declared)} bytes; this receiver reads at most {max_body}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                raise WebhookTooLarge(f"a body past {max_body} bytes; this receiver reads at most {max_body}")
            chunks.append(chunk)
        return b"".join(chunks)

    async def deliveries(request: Request) -> JSONResponse:
        try:
            check_headers(secret, dict(request.headers))  # before a byte of the body is read
            body = await read_body(request)
            delivery_id = verify(secret, dict(request.headers), body)
            delivery = parse(delivery_id, body)
        except WebhookTooLarge as exc:
            logger.warning("refused a request: %s", exc)
            return JSONResponse({"status": "too large", "reason": str(exc)}, status_code=413)
        except WebhookRejected as exc:
            logger.warning(
                "refused a request from %s: %s", request.client.host if request.client else "?", exc
            )
            return JSONResponse({"status": "refused", "reason": str(exc)}, status_code=401)
        except WebhookPayloadError as exc:
            logger.warning("a signed delivery with a body we cannot read: %s", exc)
            return JSONResponse({"status": "malformed", "reason": str(exc)}, status_code=400)
        reason = skip_reason(delivery, models)
        if reason is not None:
            logger.info("delivery %s skipped: %s", delivery.delivery_id, reason)
            return JSONResponse({"status": "skipped", "reason": reason}, status_code=200)
        async with one_at_a_time:
            with log.lock():  # and one receiver process at a time decides and emits for a delivery id
                if log.seen(delivery.delivery_id, delivery.version_key):
                    logger.info(
                        "delivery %s (%s) again: already acted on", delivery.delivery_id, delivery.candidate
                    )
                    return JSONResponse({"status": "duplicate", "delivery_id": delivery.delivery_id})
                try:
                    emitted = await emit(delivery)
                except Exception as exc:  # not recorded: MLflow's retry of this delivery tries again
                    logger.error(
                        "could not emit %s for %s: %s", MODEL_VERSION_CREATED, delivery.candidate, exc
                    )
                    return JSONResponse({"status": "error", "reason": f"Prefect: {exc}"}, status_code=503)
                log.record(delivery.delivery_id, delivery.version_key)
        logger.info("%s -> %s (event %s)", delivery.candidate, MODEL_VERSION_CREATED, emitted)
        return JSONResponse(
            {
                "status": "emitted",
                "event": MODEL_VERSION_CREATED,
                "event_id": emitted,
                "candidate": delivery.candidate,
            },
            status_code=202,
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "models": sorted(models)})

    return Starlette(
        routes=[Route(PATH, deliveries, methods=["POST"]), Route("/health", health, methods=["GET"])]
    )
