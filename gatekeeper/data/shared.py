"""Tables a fleet of gates shares in one process: each file read and hashed once, split by a column once.

Outside `shared_reads()` nothing is kept: a single gate run reads its tables as before. Inside it (a
fleet run holds it while its models are gated on threads), the first model to read a file reads it
and the others wait for that read; a model's rows (`data.where`) come from the file's groups by the
column, computed once, instead of a pass over the whole table per model. Frames handed out are
shallow copies: with pandas' copy-on-write a model that changes its table changes only its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from gatekeeper.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd

_guard = threading.Lock()
_holders = 0
_files: dict[str, tuple[Any, str]] = {}  # path -> (frame, sha256)
_groups: dict[tuple[str, str, str], dict[Any, np.ndarray]] = {}  # (path, column, kind) -> value -> rows
_path_locks: dict[str, threading.Lock] = {}


_kept_for: str | None = None  # a Dask worker keeps one fleet run's tables between its tasks


@contextmanager
def shared_reads(keep_for: str | None = None) -> Iterator[None]:
    """Within: a file is read once for every gate of the process; after the last holder leaves,
    forgotten, unless `keep_for` names a fleet run (a Dask worker gating its models one task at a
    time): then kept until a task of another fleet run arrives."""
    global _holders, _kept_for
    with _guard:
        if keep_for is not None and keep_for != _kept_for:
            _forget()
            _kept_for = keep_for
        _holders += 1
    try:
        yield
    finally:
        with _guard:
            _holders -= 1
            if _holders == 0 and _kept_for is None:
                _forget()


def _forget() -> None:
    _files.clear()
    _groups.clear()
    _path_locks.clear()


def _active() -> bool:
    with _guard:
        return _holders > 0


def _path_lock(key: str) -> threading.Lock:
    with _guard:
        return _path_locks.setdefault(key, threading.Lock())


def read_once(
    path: str, read: Callable[[str], pd.DataFrame], digest: Callable[[str], str]
) -> tuple[pd.DataFrame, str]:
    """The table at `path` and its sha256: read now, or kept from the first read of this fleet run."""
    if not _active():
        return read(path), digest(path)
    with _path_lock(path):
        if path not in _files:
            _files[path] = (read(path), digest(path))
        frame, sha = _files[path]
    return frame.copy(deep=False), sha


def _numeric_kind(column: pd.Series, value: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not isinstance(value, str | bool)


def _grouped(path: str | None, frame: pd.DataFrame, column: str, numeric: bool) -> dict[Any, np.ndarray]:
    """Row positions (ascending) of each value of `column`: numbers as numbers, else as text."""
    import pandas as pd

    from gatekeeper.data.segments import MISSING_VALUE

    key = (path or "", column, "number" if numeric else "text")
    if path is not None and key in _groups:
        return _groups[key]
    values = frame[column]
    if not numeric:
        values = values.astype("string").fillna(MISSING_VALUE).astype(object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes[codes >= 0], minlength=len(uniques)))
    starts = np.concatenate([[0], bounds[:-1]]) + int((codes < 0).sum())
    groups = {uniques[i]: order[starts[i] : bounds[i] + int((codes < 0).sum())] for i in range(len(uniques))}
    if path is not None:
        _groups[key] = groups
    return groups


def rows_selected(frame: pd.DataFrame, where: dict[str, Any], table: str, path: str) -> np.ndarray:
    """Positions (ascending) of the rows holding every `column: value` of `data.where`, as
    `rows_where` selects them; from the file's groups when this fleet run already split it."""
    for column in where:
        if column not in frame.columns:
            raise ConfigError(
                f"`data.where` must name columns of every table; {table} ({path!r}) has no column "
                f"{column!r}{did_you_mean(column, list(frame.columns))}"
            )
    keep: np.ndarray | None = None
    for column, value in where.items():
        numeric = _numeric_kind(frame[column], value)
        with _path_lock(path) if _active() else _nothing():
            groups = _grouped(path if _active() else None, frame, column, numeric)
        rows = groups.get(value if numeric else str(value), np.empty(0, dtype=np.intp))
        keep = rows if keep is None else np.intersect1d(keep, rows, assume_unique=True)
    return np.arange(len(frame)) if keep is None else keep


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def select_rows(frame: pd.DataFrame, where: dict[str, Any], table: str, path: str) -> pd.DataFrame:
    """The rows of `frame` that `data.where` selects, renumbered from 0 (the frame itself without one)."""
    if not where:
        return frame
    rows = rows_selected(frame, where, table, path)
    return frame.iloc[rows].reset_index(drop=True)
