"""One error hierarchy: every message says what, where, and what was seen."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterable


class GatekeeperError(Exception):
    """Base of every error the gate raises on purpose."""


class ConfigError(GatekeeperError, ValueError):
    """The gate's configuration is invalid or does not fit the data."""


class DataLoadError(GatekeeperError, OSError):
    """A data file named by the configuration could not be read."""


class DataValidationError(GatekeeperError, ValueError):
    """Data cannot be used as given (raised only where no `blocked` decision can be made)."""


class RegistryError(GatekeeperError, RuntimeError):
    """The MLflow tracking server or model registry failed (`gatekeeper.registry` maps MLflow's errors)."""


class RegistryUnavailable(RegistryError, ConnectionError):
    """MLflow could not be reached, timed out or answered 429/502/503/504: worth trying again."""


class RegistryNotFound(RegistryError, LookupError):
    """The registered model, version, run or artifact does not exist."""


class RegistryPermissionError(RegistryError, PermissionError):
    """MLflow refused the credentials (401) or the action (403)."""


class RegistryConflict(RegistryError):
    """The registry's state conflicts with the request (409, already exists, not in the expected state)."""


class AliasMoved(RegistryConflict):
    """An alias moved since the evidence was gathered: promoting now would act on stale evidence."""


class ReviewerNotAllowed(GatekeeperError, PermissionError):
    """The reviewer is not on the gate run's `review.reviewers` allow-list."""


class ModelError(GatekeeperError, ValueError):
    """A model cannot be judged as configured: its URI does not resolve, it belongs to another
    registered model, its output cannot give the metrics, or its signature does not fit the data."""


class GateBusyError(GatekeeperError, TimeoutError):
    """Another gate run of the same model held the model's lock for too long."""


class ExpectationSuiteError(GatekeeperError, ValueError):
    """A Great Expectations suite file is missing or does not load completely."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class DecisionFormatError(GatekeeperError, ValueError):
    """A decision.json cannot be read (malformed, or written by a newer schema version)."""


def redact(text: str) -> str:
    """`text` with the password of any URL in it (scheme://user:password@host) replaced by ***:
    credentials belong in the environment, never in a message, a log or a stored parameter."""
    return re.sub(r"(\w+://[^\s/@:'\"]*:)[^\s@/'\"]*@", r"\1***@", text)


def has_credentials(uri: str) -> bool:
    """Whether a URI carries a password a printed command or a stored link must not show."""
    return redact(uri) != uri


def link_without_credentials(url: str) -> str:
    """A URL a browser can open without the user:password part (the server asks for them)."""
    return re.sub(r"(\w+://)[^\s/@'\"]*@", r"\1", url)


_REDACTING = "gatekeeper_redacts"  # marks the record factory below, so it is installed once


def redact_log_records() -> None:
    """From now on every log record made in this process carries any URL password as ***, in its
    message and in its traceback: a library's own text included (MLflow's connection errors quote
    the tracking URI whole, and Prefect logs a failed task's traceback with the chained error, which
    its API handler stores). Idempotent."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, _REDACTING, False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call is the logging module's to report, not ours
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    setattr(factory, _REDACTING, True)
    logging.setLogRecordFactory(factory)
