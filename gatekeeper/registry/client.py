"""Connecting to MLflow and mapping its failures to the gate's errors, by type and HTTP status.

`registry_errors(uri, what)` wraps every MLflow call: connection failures and timeouts become
`RegistryUnavailable` (transient: tasks retry them), HTTP 404 `RegistryNotFound`, 401/403
`RegistryPermissionError`, 409 or "already exists" `RegistryConflict`, any other MLflow failure
`RegistryError`. Programming errors (TypeError, KeyError, ...) are not caught: they are bugs,
not registry trouble, and must surface as such.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gatekeeper.errors import (
    RegistryConflict,
    RegistryError,
    RegistryNotFound,
    RegistryPermissionError,
    RegistryUnavailable,
    redact,
)

# MLflow's HTTP client reads these on every request; the gate's defaults, unless the user set them
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


def connect(uri: str) -> Any:
    """An MlflowClient for tracking and registry at `uri` (a sqlite file's folder is created)."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from mlflow import MlflowClient

    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def http_status(error: BaseException) -> int | None:
    """The HTTP status behind an MLflow error (from its error code), or None."""
    from mlflow.exceptions import MlflowException

    if isinstance(error, MlflowException):
        status = error.get_http_status_code()  # type: ignore[no-untyped-call]
        return int(status) if status else None
    response = getattr(error, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def _unreachable(error: BaseException) -> bool:
    """A connection failure or timeout anywhere in the chain (MLflow wraps requests' errors)."""
    import requests

    return any(
        isinstance(e, requests.exceptions.ConnectionError | requests.exceptions.Timeout | TimeoutError)
        or (isinstance(e, ConnectionError) and not isinstance(e, RegistryError))
        for e in _chain(error)
    )


def classify(error: BaseException, uri: str, what: str) -> RegistryError:
    """The gate's error for an MLflow failure, naming the server and the step."""
    from mlflow.exceptions import MlflowException

    status = http_status(error)
    code = str(getattr(error, "error_code", ""))
    text = redact(f"MLflow at {uri} failed to {what}: {type(error).__name__}: {str(error)[:500]}")
    if _unreachable(error) or status in TRANSIENT_STATUS or code == "TEMPORARILY_UNAVAILABLE":
        return RegistryUnavailable(text)
    if isinstance(error, FileNotFoundError) or status == 404:
        return RegistryNotFound(text)
    if status in (401, 403) or isinstance(error, PermissionError):
        return RegistryPermissionError(text)
    if status == 409 or code == "RESOURCE_ALREADY_EXISTS":
        return RegistryConflict(text)
    if isinstance(error, MlflowException | OSError):
        return RegistryError(text)
    raise TypeError(f"not an MLflow failure: {type(error).__name__}")  # pragma: no cover


def _is_registry_failure(error: BaseException) -> bool:
    import requests
    from mlflow.exceptions import MlflowException

    return isinstance(error, MlflowException | requests.exceptions.RequestException | OSError)


@contextmanager
def registry_errors(uri: str, what: str) -> Iterator[None]:
    """Map MLflow's failures inside the block to RegistryError subclasses; let bugs through."""
    try:
        yield
    except RegistryError:
        raise
    except Exception as exc:
        if not _is_registry_failure(exc):
            raise
        raise classify(exc, uri, what) from exc


def is_transient(error: BaseException) -> bool:
    """Worth a retry: MLflow was unreachable or briefly unavailable."""
    return isinstance(error, RegistryUnavailable)


def alias_version(client: Any, model_name: str, alias: str) -> Any | None:
    """The model version behind `alias`, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if http_status(exc) == 404 or exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        # sqlite stores answer "not found" for a missing alias with INVALID_PARAMETER_VALUE
        if "not found" in str(exc).lower() and http_status(exc) == 400:
            return None
        raise


# MLflow's advice to a person writing their own logging code, printed on every gate run; the gate's
# choices are deliberate (datasets from local files; a signature inferred from the training rows, with
# the integer columns they have), so they are not a reviewer's business.
_HINTS = (
    "Hint: Inferred schema contains integer column",
    "The specified dataset source can be interpreted in multiple ways",
)


@contextmanager
def quiet_mlflow_hints() -> Iterator[None]:
    """Silence MLflow's hints for the code inside (only those: every other warning still shows)."""
    with warnings.catch_warnings():
        for hint in _HINTS:
            warnings.filterwarnings("ignore", message=re.escape(hint), category=UserWarning)
        yield
