"""One gate run per model at a time: a Prefect global concurrency limit named after the model."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import get_current_settings

from gatekeeper import PRIVATE_PREFECT_API
from gatekeeper.config import GateConfig
from gatekeeper.errors import GateBusyError
from gatekeeper.registry.moves import lock_path


@contextmanager
def _file_lock(config: GateConfig, what: str) -> Iterator[None]:
    """One gate run per model on this machine, without a Prefect server (a file lock)."""
    from filelock import FileLock, Timeout

    path = lock_path(config.resolved_tracking_uri, config.model_name, "gate")
    logger = get_run_logger()
    started = time.monotonic()
    try:
        lock = FileLock(str(path), timeout=config.lock.wait_minutes * 60)
        lock.acquire()
    except Timeout:
        raise GateBusyError(
            f"another gate run of {config.model_name} held {path} for more than "
            f"{config.lock.wait_minutes:g} minutes (lock.wait_minutes); this run did not {what} "
            f"(new labels: {config.data.new_labels}); nothing was changed: trigger the gate again"
        ) from None
    waited = time.monotonic() - started
    logger.info(
        "holding %s to %s (no Prefect server: a file lock)%s",
        path,
        what,
        f"; waited {waited:.0f} s for another run" if waited > 2 else "",
    )
    try:
        yield
    finally:
        lock.release()


def lock_name(model_name: str) -> str:
    """The concurrency limit's name: one per registered model."""
    return f"gatekeeper-model-{model_name}"


def ensure_lock(name: str) -> None:
    """Create the limit (one slot) if it is missing; a limit someone created stays as it is."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:  # another run created it a moment ago
                pass


@contextmanager
def model_lock(config: GateConfig, what: str) -> Iterator[None]:
    """Hold the model's slot while `what` runs; wait (up to lock.wait_minutes) if another run holds it."""
    logger = get_run_logger()
    if not config.lock.enabled:
        yield
        return
    if not get_current_settings().api.url or os.environ.get(PRIVATE_PREFECT_API):
        # the ephemeral API (or the CLI's private one, `cli.api`) lives and dies with this process:
        # a slot it held when killed would stay taken, so a file lock beside the registry instead
        # (the OS releases it with the process); promotions also re-check the champion under their own
        with _file_lock(config, what):
            yield
        return
    name = lock_name(config.model_name)
    ensure_lock(name)
    logger.info("acquiring %s for %s (one gate run per model at a time)", name, what)
    started, acquired = time.monotonic(), False
    try:
        with concurrency(name, occupy=1, timeout_seconds=config.lock.wait_minutes * 60, strict=True):
            acquired = True
            waited = time.monotonic() - started
            if waited > 2:
                logger.info("waited %.0f s for another gate run of %s to finish", waited, config.model_name)
            yield
    except TimeoutError:
        if acquired:  # raised by the work inside the lock, not by waiting for it
            raise
        raise GateBusyError(
            f"another gate run of {config.model_name} held {name} for more than "
            f"{config.lock.wait_minutes:g} minutes (lock.wait_minutes); this run did not {what} "
            f"(new labels: {config.data.new_labels}); nothing was changed: trigger the gate again"
        ) from None
