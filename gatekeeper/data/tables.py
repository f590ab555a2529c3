"""Reading the gate's tables and fingerprinting them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatekeeper.config import GateConfig
from gatekeeper.data.shared import read_once, select_rows
from gatekeeper.errors import ConfigError, DataLoadError, did_you_mean
from gatekeeper.vocabulary import TABLES

if TYPE_CHECKING:  # pandas loads when a table is read through it (compare-scores reads Arrow)
    import pandas as pd

    from gatekeeper.data.structure import TableShape


@dataclass(frozen=True)
class GateTables:
    """The three tables of a run, as read, with the sha256 of each source file.

    On engine dask `lazy_evaluation` is the whole evaluation dataset (a Dask DataFrame, its hash a
    fingerprint of the file listing; `evaluation_shape` its structural statistics, merged from its
    partitions in one pass) and `evaluation` a random sample of it (`compute.sample_rows`) for what
    needs rows in this process."""

    train: pd.DataFrame
    new_labels: pd.DataFrame
    evaluation: pd.DataFrame
    hashes: dict[str, str]
    paths: dict[str, str]
    lazy_evaluation: Any = None
    evaluation_shape: TableShape | None = None

    @property
    def n_evaluation(self) -> int:
        """Rows of the whole evaluation table (not of its sample)."""
        return len(self.evaluation) if self.evaluation_shape is None else self.evaluation_shape.rows

    def table(self, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = getattr(self, name)
        return frame


def _open(path: str, mode: str = "rb", **kwargs: Any) -> Any:
    import fsspec

    return fsspec.open(path, mode, **kwargs)


def _format_of(path: str) -> str:
    lower = path.lower()
    for suffix in (".gz", ".bz2", ".zip", ".xz", ".zst"):
        lower = lower.removesuffix(suffix)
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    raise DataLoadError(
        f"cannot tell the format of {path!r}: expected a name ending in .csv, .tsv or .parquet "
        "(optionally compressed, e.g. .csv.gz)"
    )


def is_transient_read(error: BaseException) -> bool:
    """A remote read that may work when tried again (network, timeout, 5xx), not a bad file."""
    if not isinstance(error, DataLoadError):
        return False
    cause = error.__cause__
    if cause is None or isinstance(cause, FileNotFoundError | PermissionError | IsADirectoryError):
        return False
    text = f"{type(cause).__name__} {cause}"
    return isinstance(cause, ConnectionError | TimeoutError) or any(
        s in text for s in ("ClientError", "Timeout", "Connection", " 500", " 502", " 503", " 504")
    )


def read_table(path: str) -> pd.DataFrame:
    """Read a CSV (separator from its header: , ; or tab) or Parquet file, path or fsspec URL."""
    import pandas as pd

    fmt = _format_of(path)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        with _open(path, "rt", compression="infer") as fh:
            header = fh.readline()
        sep = max([",", ";", "\t"], key=header.count)
        return pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise DataLoadError(f"data file {path!r} does not exist") from None
    except Exception as exc:
        # one line: pandas ends a tokenizing error with a newline, pyarrow spreads some over lines
        raise DataLoadError(f"could not read {path!r} as {fmt}: {' '.join(str(exc).split())}") from exc


def file_sha256(path: str) -> str:
    """sha256 of the bytes of a local file or fsspec URL."""
    digest = hashlib.sha256()
    try:
        with _open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise DataLoadError(f"data file {path!r} does not exist") from None
    return digest.hexdigest()


def load_tables(config: GateConfig) -> GateTables:
    """Read train, new_labels and evaluation as named by the config."""
    paths: dict[str, str] = {name: getattr(config.data, name) for name in TABLES}
    if config.compute.engine == "dask":
        return _with_lazy_evaluation(config, paths)
    frames, hashes = {}, {}
    for name, path in paths.items():
        frame, hashes[name] = read_once(path, read_table, file_sha256)
        frames[name] = select_rows(frame, config.data.where, name, path)
    _check_selected(config, frames, paths)
    return GateTables(**frames, hashes=hashes, paths=paths)


def _check_selected(config: GateConfig, frames: dict[str, Any], paths: dict[str, str]) -> None:
    """`data.where` must leave rows to train on and to judge on (an empty batch is the checks' to say)."""
    if not config.data.where:
        return
    for name in ("train", "evaluation"):
        if name in frames and len(frames[name]) == 0:
            raise ConfigError(
                f"`data.where` {config.data.where} selects no rows of {name} ({paths[name]!r}): "
                "expected the values of a model's rows there"
            )


def _with_lazy_evaluation(config: GateConfig, paths: dict[str, str]) -> GateTables:
    """Train and new labels in memory, the evaluation rows as a Dask DataFrame (and a sample)."""
    from gatekeeper.data.lazy import dataset_fingerprint, read_dataset, sample_rows, table_shape

    frames, hashes = {}, {}
    for name in ("train", "new_labels"):
        frame, hashes[name] = read_once(paths[name], read_table, file_sha256)
        frames[name] = select_rows(frame, config.data.where, name, paths[name])
    _check_selected(config, frames, paths)
    lazy = lazy_rows_where(read_dataset(paths["evaluation"]), config.data.where, paths["evaluation"])
    hashes["evaluation"] = dataset_fingerprint(paths["evaluation"])
    shape = table_shape(lazy, config.target)  # the rows counted with the structural statistics
    sample = sample_rows(lazy, config.compute.sample_rows, shape.rows, config.statistics.seed)
    return GateTables(
        **frames, evaluation=sample, hashes=hashes, paths=paths, lazy_evaluation=lazy, evaluation_shape=shape
    )


def feature_columns(config: GateConfig, reference: pd.DataFrame) -> list[str]:
    """The configured features, or every column but target, ids and time."""
    if config.features is not None:
        return list(config.features)
    skip = {config.target, *config.id_columns, *config.data.where}  # a fleet model's column is constant
    if config.time_column:
        skip.add(config.time_column)
    if config.cluster_column:
        skip.add(config.cluster_column)  # an entity id, not a feature
    return [c for c in reference.columns if c not in skip]


def check_config_against(config: GateConfig, tables: GateTables) -> None:
    """Raise ConfigError where the config names columns no table has (likely a typo)."""
    train_cols = list(tables.train.columns)
    eval_cols = list(tables.evaluation.columns)
    if config.target not in train_cols:
        raise ConfigError(
            f"`target` must name a column of the training data {tables.paths['train']!r}; "
            f"got {config.target!r}{did_you_mean(config.target, train_cols)}"
        )
    if config.task == "classification" and config.positive_label is not None:
        values = sorted({str(v) for v in tables.train[config.target].dropna().unique()})
        if str(config.positive_label) not in values and len(values) <= 50:
            raise ConfigError(
                f"`positive_label` must be a value of the target {config.target!r}; got "
                f"{config.positive_label!r}{did_you_mean(str(config.positive_label), values)} "
                f"(the training data has {values[:10]})"
            )
    for i, feat in enumerate(config.features or []):
        if feat not in train_cols:
            raise ConfigError(
                f"`features[{i}]` must name a column of the training data; "
                f"got {feat!r}{did_you_mean(feat, train_cols)}"
            )
        if feat == config.target:
            raise ConfigError(f"`features[{i}]` is the target {feat!r}; a model cannot use it")
    for i, cols in enumerate(config.segment_columns):
        for col in cols:
            if col not in eval_cols:
                raise ConfigError(
                    f"`segments[{i}]` must name columns of the evaluation data; "
                    f"got {col!r}{did_you_mean(col, eval_cols)}"
                )
    for i, key in enumerate(config.key_segments):
        for col in key.where:
            if col not in eval_cols:
                raise ConfigError(
                    f"`key_segments[{i}].where` must name columns of the evaluation data; "
                    f"got {col!r}{did_you_mean(col, eval_cols)}"
                )


def lazy_rows_where(lazy: Any, where: dict[str, Any], path: str) -> Any:
    """The Dask DataFrame's rows that `data.where` selects (as `rows_where` compares: numbers as
    numbers, anything else as text)."""
    if not where:
        return lazy
    import pandas as pd

    from gatekeeper.data.segments import MISSING_VALUE

    keep = None
    for column, value in where.items():
        if column not in lazy.columns:
            raise ConfigError(
                f"`data.where` must name columns of every table; evaluation ({path!r}) has no column "
                f"{column!r}{did_you_mean(column, list(lazy.columns))}"
            )
        values = lazy[column]
        if pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(value, str | bool):
            match = values == value
        else:
            match = values.astype("string").fillna(MISSING_VALUE) == str(value)
        keep = match if keep is None else keep & match
    return lazy[keep]
