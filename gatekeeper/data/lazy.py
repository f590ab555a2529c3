"""The evaluation table on a Dask cluster: read lazily, checked partition by partition.

With `compute.engine: dask` the evaluation rows (the table that grows: every row both models are
scored on) are a Dask DataFrame, never one pandas frame. What the gate reads of them comes back
as small statistics that merge exactly: the structural checks' `TableShape` (rows, null counts,
labels), the evaluation suite's expectation outcomes (unexpected counts), and a bounded random
sample for what needs rows rather than sums. Dask is imported only when called (the `[dask]`
extra).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from gatekeeper.config import DataChecks
from gatekeeper.data.structure import TableShape
from gatekeeper.data.suites import Outcome, check_of, read_suite_file, suite_outcomes
from gatekeeper.errors import ConfigError, DataLoadError, GatekeeperError
from gatekeeper.vocabulary import Check, TableName

# expectations whose result is the same on every partition (the schema), so the table passes
# when every partition does
SCHEMA = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_type_list",
    }
)
ROW_COUNT = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})
UNIQUE = "expect_column_values_to_be_unique"


def read_dataset(path: str) -> Any:
    """A Dask DataFrame over a Parquet or CSV file, a folder of them or a glob (local or fsspec URL);
    a CSV's separator (, ; or tab) is read from its first file's header, as for one table."""
    import dask.dataframe as dd

    lower = path.lower().rstrip("/")
    compressed = lower.endswith((".gz", ".bz2", ".xz", ".zst", ".zip"))
    try:
        if lower.removesuffix(".gz").endswith((".csv", ".tsv", ".txt")):
            import fsspec

            with fsspec.open_files(path, "rt", compression="infer")[0] as fh:
                header = fh.readline()
            sep = max([",", ";", "\t"], key=header.count)
            # a compressed file cannot be split: one partition per file
            return dd.read_csv(path, sep=sep, blocksize=None if compressed else "64MiB")
        _check_parquet_files(path)
        return dd.read_parquet(path)
    except DataLoadError:
        raise
    except (FileNotFoundError, IndexError):
        raise DataLoadError(f"data.evaluation {path!r} matches no file") from None
    except (OSError, ValueError, TypeError) as exc:
        raise DataLoadError(
            f"data.evaluation {path!r} is not a readable Parquet or CSV dataset (a file, a folder or a "
            f"glob of them): {exc}"
        ) from exc


def _files(path: str) -> tuple[Any, list[str]]:
    """The filesystem and every file of a dataset (a file, a folder of them or a glob)."""
    import fsspec

    fs, _, paths = fsspec.get_fs_token_paths(path)
    files: list[str] = []
    for p in paths:
        files += sorted(fs.find(p)) if fs.isdir(p) else [p]
    return fs, files


def _check_parquet_files(path: str) -> None:
    """Every Parquet file's footer read, and its schema against the first file's: a truncated,
    empty or garbage file, or one whose column types differ, named before any partition is
    computed (on the cluster the error would name no file)."""
    import pyarrow.parquet as pq

    fs, files = _files(path)
    first: Any = None
    for name in files:
        if Path(name).name.startswith(("_", ".")):  # _metadata, _SUCCESS, hidden files
            continue
        try:
            with fs.open(name, "rb") as fh:
                schema = pq.read_schema(fh)
        except Exception as exc:
            raise DataLoadError(
                f"data.evaluation file {name!r} is not a readable Parquet file ({type(exc).__name__}: "
                f"{str(exc)[:200]}); expected every file of {path!r} to be Parquet: move it aside"
            ) from None
        if first is None:
            first = (name, schema)
            continue
        for field in schema:
            if field.name in first[1].names and first[1].field(field.name).type != field.type:
                raise DataLoadError(
                    f"data.evaluation file {name!r} holds column {field.name!r} as {field.type}, but "
                    f"{first[0]!r} holds it as {first[1].field(field.name).type}; expected one type per "
                    "column across the dataset's files"
                )


def dataset_fingerprint(path: str) -> str:
    """sha256 of the dataset's file listing (name, size and modification time or etag of each file):
    what changes when any file does, without reading hundreds of MiB."""
    fs, files = _files(path)
    listing = []
    for name in files:
        info = fs.info(name)
        stamp = info.get("mtime") or info.get("LastModified") or info.get("ETag") or info.get("etag")
        listing.append([name, info.get("size"), str(stamp)])
    if not listing:
        raise DataLoadError(f"data.evaluation {path!r} matches no file")
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()


def _partitions(frame: Any, fn: Any, *args: Any) -> list[Any]:
    """`fn(partition, *args)` on every partition, computed on the cluster."""
    import dask
    from dask import delayed

    return list(computed(lambda: dask.compute(*[delayed(fn)(part, *args) for part in frame.to_delayed()])))


def computed(compute: Any) -> Any:
    """`compute()`, a partition that cannot be read on the cluster said in one line (DataLoadError)."""
    try:
        return compute()
    except (GatekeeperError, MemoryError):
        raise
    except Exception as exc:
        said = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise DataLoadError(
            f"data.evaluation: a partition could not be read on the cluster ({type(exc).__name__}: "
            f"{said}); expected every file to hold the first file's columns with the same types"
        ) from exc


def table_shape(frame: Any, target: str) -> TableShape:
    """The structural checks' statistics of a Dask DataFrame, merged from its partitions."""
    parts = _partitions(frame, TableShape.of, target)
    return TableShape.merge(parts) if parts else TableShape(0, dict(frame.dtypes.items()), {})


def sample_rows(frame: Any, rows: int, total: int, seed: int) -> pd.DataFrame:
    """A uniform random sample of about `rows` rows (all of them when fewer), as one pandas frame."""
    if total <= rows:
        return computed(frame.compute).reset_index(drop=True)
    out: pd.DataFrame = computed(frame.sample(frac=rows / total, random_state=seed).compute)
    return out.reset_index(drop=True)


def check_suite_fits(suite_path: Path) -> None:
    """A clear error, before any data is read, for an expectation that needs the whole table at once."""
    from great_expectations.expectations.expectation import ColumnMapExpectation
    from great_expectations.expectations.registry import get_expectation_impl

    for i, spec in enumerate(read_suite_file(suite_path)["expectations"]):
        kind = spec.get("type", "")
        if kind in SCHEMA or kind in ROW_COUNT or kind == UNIQUE:
            continue
        try:
            mergeable = issubclass(get_expectation_impl(kind), ColumnMapExpectation)
        except Exception:
            mergeable = False
        if not mergeable:
            raise ConfigError(
                f"expectations.evaluation: suite {suite_path.stem!r} expectation {i} ({kind}) judges the "
                "whole table at once, which engine dask cannot do partition by partition; expected "
                "per-row expectations (values not null, in a set, between bounds, matching a pattern), "
                "column and type checks, the row count or uniqueness. Move it to the train or new_labels "
                "suite, or use compute.engine local"
            )


def _partition_outcomes(part: pd.DataFrame, suite_path: str, table: TableName) -> tuple[str, list[Outcome]]:
    return suite_outcomes(part, Path(suite_path), table)


def run_suite_on_dask(frame: Any, suite_path: Path, table: TableName, rules: DataChecks) -> list[Check]:
    """The suite on every partition (on the workers), outcomes merged exactly into the table's."""
    parts = _partitions(frame, _partition_outcomes, str(suite_path), table)
    if not parts:
        return []
    if len({tuple(o.kind for o in p[1]) for p in parts}) > 1:
        raise DataLoadError(
            f"data.evaluation: suite {suite_path.stem!r} ran differently on the dataset's partitions "
            "(a file with other columns or types?); expected every file to hold the same columns"
        )
    name = parts[0][0]
    merged = [merge_outcomes([p[1][i] for p in parts], frame) for i in range(len(parts[0][1]))]
    return [check_of(o, table, name, rules, False) for o in merged]


def merge_outcomes(outcomes: Sequence[Outcome], frame: Any = None) -> Outcome:
    """One expectation's outcome on the whole table from its outcomes on each partition."""
    first = outcomes[0]
    failed = [o for o in outcomes if not o.success]
    counted = all("element_count" in o.details for o in outcomes)
    if (
        first.kind in SCHEMA
        or any("exception" in o.details for o in outcomes)
        or (first.kind not in ROW_COUNT and not counted)
    ):  # nothing to add up: the table passes only if every partition does
        return failed[0] if failed else first
    if first.kind in ROW_COUNT:
        rows = sum(int(o.details.get("observed_value") or 0) for o in outcomes)
        kw = first.kwargs
        if first.kind == "expect_table_row_count_to_equal":
            ok = rows == kw.get("value")
        else:
            ok = (kw.get("min_value") is None or rows >= kw["min_value"]) and (
                kw.get("max_value") is None or rows <= kw["max_value"]
            )
        return replace(first, success=ok, details={"observed_value": rows})
    element = sum(int(o.details.get("element_count") or 0) for o in outcomes)
    missing = sum(int(o.details.get("missing_count") or 0) for o in outcomes)
    unexpected = sum(int(o.details.get("unexpected_count") or 0) for o in outcomes)
    if first.kind == UNIQUE and frame is not None:
        unexpected = duplicated_rows(frame, str(first.kwargs["column"]))
    rows = element - (0 if first.kind == "expect_column_values_to_not_be_null" else missing)
    mostly = float(first.kwargs.get("mostly", 1.0))
    ok = rows == 0 or (rows - unexpected) / rows >= mostly
    sample = [v for o in failed for v in o.details.get("partial_unexpected_list", [])][:20]
    details: dict[str, Any] = {
        "element_count": element,
        "missing_count": missing,
        "unexpected_count": unexpected,
        "unexpected_percent": 100.0 * unexpected / rows if rows else 0.0,
    }
    if sample:
        details["partial_unexpected_list"] = sample
    return replace(first, success=ok, details=details)


def duplicated_rows(frame: Any, column: str) -> int:
    """Rows whose value of `column` appears more than once in the whole table (across partitions)."""
    counts = frame[column].dropna().value_counts().compute()
    return int(counts[counts > 1].sum())
