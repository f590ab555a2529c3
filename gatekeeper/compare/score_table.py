"""The columns `compare-scores` reads: from Arrow, without pandas, where their types allow it.

A local Parquet or CSV file is read with pyarrow, only the columns the comparison names. Columns
of the kinds below are used as Arrow gives them, with the meaning the pandas reading gives them
(the same labels, classes, segments and order):

- segment and key columns of text (missing values are the segment `<missing>`) or of integers
  without missing values; key values given as text;
- a label column of text or integers without missing values;
- numeric score columns.

Any other column (floats or booleans as segments, dates, categoricals, integers with missing
values, a remote or compressed file) is read as before, by pandas, once, so such files keep
their old meaning. A pandas frame given directly is always read the pandas way.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gatekeeper.data.segments import (
    MISSING_VALUE,
    Factorized,
    Segment,
    factorize,
    rows_where,
    segments_from_codes,
)
from gatekeeper.metrics import Array

if TYPE_CHECKING:
    import pandas as pd

# pandas' default missing-value markers, so a CSV read by Arrow has the same missing cells
PANDAS_NA = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip


class ScoreTable:
    """Named columns of a scores file: Arrow where it keeps pandas' meaning, else a pandas frame."""

    def __init__(
        self,
        columns: Sequence[str],
        arrow: Any = None,
        frame: Callable[[], pd.DataFrame] | None = None,
        text_as_dictionary: Sequence[str] = (),
    ) -> None:
        self.columns = list(columns)
        self.arrow = arrow  # a pyarrow.Table of the named columns, or None
        self._text_as_dictionary = set(text_as_dictionary)  # text columns Arrow was asked to read encoded
        self._read_frame = frame
        self._frame: pd.DataFrame | None = None
        self._factorized: dict[str, Factorized] = {}

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> ScoreTable:
        table = cls(list(frame.columns))
        table._frame = frame
        return table

    @property
    def rows(self) -> int:
        return len(self.frame()) if self.arrow is None else int(self.arrow.num_rows)

    def frame(self) -> pd.DataFrame:
        """The pandas reading (read on first need)."""
        if self._frame is None:
            if self._read_frame is None:
                raise RuntimeError("a ScoreTable needs Arrow columns or a way to read a frame")
            self._frame = self._read_frame()
        return self._frame

    def _native(self, name: str, *, text: bool = True, integers: bool = True, floats: bool = False) -> Any:
        """The Arrow column `name` if its type is one of those asked for, else None."""
        import pyarrow.types as types

        if self.arrow is None or name not in self.arrow.column_names:
            return None
        column = self.arrow.column(name)
        kind = column.type
        if text and (types.is_string(kind) or types.is_large_string(kind)):
            return column
        if text and name in self._text_as_dictionary and types.is_dictionary(kind):
            return column  # text that Parquet stored encoded (not a categorical: those have their order)
        if integers and types.is_integer(kind) and not types.is_uint64(kind) and column.null_count == 0:
            return column
        if floats and (types.is_floating(kind) or types.is_integer(kind)):
            return column
        return None

    def probabilities(self, name: str) -> Array:
        """The column as floats (missing values as NaN)."""
        column = self._native(name, text=False, floats=True)
        if column is None:
            return np.asarray(self.frame()[name].to_numpy(dtype=float))
        return _to_numpy(column).astype(float, copy=False)

    def labels(self, name: str) -> tuple[Array, list[Any]]:
        """Class codes per row and the classes, sorted as text."""
        column = self._native(name)
        if column is not None and column.null_count == 0:
            values, codes = _encoded(column)
            classes = sorted(values, key=str)
            position = np.array([classes.index(v) for v in values], dtype=np.int64)
            return position[codes] if len(values) else codes, classes
        from gatekeeper.stats.rows import encode_labels

        raw = self.frame()[name].to_numpy()
        classes = sorted(set(raw.tolist()), key=str)
        return (encode_labels(raw, classes) if len(classes) == 2 else np.zeros(0, np.int64)), classes

    def factorized(self, name: str) -> Factorized:
        """Codes and labels as `gatekeeper.data.segments` makes them from a pandas column."""
        if name not in self._factorized:
            column = self._native(name)
            if column is None:
                self._factorized[name] = factorize(self.frame()[name])
            else:
                values, codes = _encoded(column)
                order = sorted(range(len(values)), key=values.__getitem__)
                rank = np.empty(len(values) + 1, dtype=np.int64)
                rank[order] = np.arange(len(values))
                labels = [str(values[i]) for i in order]
                if (codes < 0).any():
                    rank[-1] = len(labels)  # code -1 (missing) indexes the last slot
                    labels.append(MISSING_VALUE)
                self._factorized[name] = (rank[codes], labels)
        return self._factorized[name]

    def segments(self, columns: Sequence[str]) -> list[Segment]:
        """The segments of one column set (they split the rows)."""
        return segments_from_codes({c: self.factorized(c) for c in columns}, [columns], self.rows)

    def rows_where(self, where: dict[str, Any]) -> Array:
        """Positional rows matching every `column: value`, as `gatekeeper.data.segments.rows_where`."""
        if not all(isinstance(v, str) and self._native(c) is not None for c, v in where.items()):
            return rows_where(self.frame(), where)
        mask = np.ones(self.rows, dtype=bool)
        for col, value in where.items():
            codes, labels = self.factorized(col)
            mask &= np.isin(codes, [i for i, label in enumerate(labels) if label == value])
        return np.flatnonzero(mask)


def _encoded(column: Any) -> tuple[list[Any], Array]:
    """The distinct values of an Arrow column and each row's index into them (-1: missing)."""
    import pyarrow.types as types

    if types.is_integer(column.type) and not column.null_count:  # numpy, without pyarrow.compute (~30 ms)
        numbers = _to_numpy(column).astype(np.int64)
        lo = int(numbers.min()) if len(numbers) else 0
        if len(numbers) and int(numbers.max()) - lo < 1 << 20:  # a small range: count, do not sort
            present = np.flatnonzero(np.bincount(numbers - lo))
            rank = np.zeros(int(present[-1]) + 1, dtype=np.int64)
            rank[present] = np.arange(len(present))
            return (present + lo).tolist(), rank[numbers - lo]
        values, codes = np.unique(numbers, return_inverse=True)
        return values.tolist(), codes.astype(np.int64).reshape(-1)
    if types.is_dictionary(column.type):  # already encoded: one dictionary for every chunk
        encoded = column.unify_dictionaries().combine_chunks()
    else:
        import pyarrow.compute as pc

        encoded = pc.dictionary_encode(column).combine_chunks()
    values = encoded.dictionary.to_pylist()
    codes = _to_numpy(encoded.indices)  # floats, missing as NaN, when some are missing
    codes = np.where(np.isnan(codes), -1, codes).astype(np.int64) if codes.dtype.kind == "f" else codes
    used = np.bincount(codes[codes >= 0], minlength=len(values)) > 0
    if used.all():
        return values, codes
    renumber = np.append(np.cumsum(used) - 1, -1)  # code -1 (missing) stays -1
    return [v for v, u in zip(values, used, strict=True) if u], renumber[codes]


def _to_numpy(column: Any) -> Array:
    """A numeric Arrow column as numpy, missing values as NaN, read from its buffers: pyarrow's
    own `to_numpy` imports pandas (~0.3 s), the slowest step of a whole compare-scores run."""
    import pyarrow.types as types

    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    kind = array.type
    code = "f" if types.is_floating(kind) else "i" if types.is_signed_integer(kind) else "u"
    if not (types.is_floating(kind) or types.is_integer(kind)):
        raise TypeError(f"expected a numeric Arrow column; got {kind}")
    validity, data = array.buffers()[:2]
    n, offset = len(array), array.offset
    values = np.frombuffer(data, dtype=np.dtype(f"{code}{kind.bit_width // 8}"), count=n + offset)[offset:]
    if not array.null_count:
        return values
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[offset : offset + n]
    return np.where(bits.astype(bool), values, np.nan)


def read_scores(path: str, names: Sequence[str]) -> ScoreTable:
    """The columns `names` of a scores file: a local Parquet or CSV file through Arrow, anything
    else (a URL, a compressed file, a file Arrow cannot read) through `read_table` as before."""
    from gatekeeper.data.tables import read_table

    lower = path.lower()
    parquet = lower.endswith((".parquet", ".pq"))
    if "://" in path or not os.path.isfile(path) or not (parquet or lower.endswith((".csv", ".tsv", ".txt"))):
        return ScoreTable.of_frame(read_table(path))
    wanted = list(dict.fromkeys(names))
    try:
        if parquet:
            import pyarrow.parquet as pq
            import pyarrow.types as types

            schema = pq.read_schema(path)  # not pq.read_table: its datasets module imports pandas
            columns = list(schema.names)
            if not set(wanted) <= set(columns):
                return ScoreTable.of_frame(read_table(path))
            kinds = {c: schema.field(c).type for c in wanted}
            text = [c for c, kind in kinds.items() if types.is_string(kind) or types.is_large_string(kind)]
            table = pq.ParquetFile(path, read_dictionary=text).read(columns=wanted)
            return ScoreTable(columns, table, lambda: read_table(path), text_as_dictionary=text)
        import pyarrow.csv as pcsv

        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = fh.readline()
        sep = max([",", ";", "\t"], key=header.count)
        columns = next(csv.reader([header], delimiter=sep))
        if not set(wanted) <= set(columns) or len(set(columns)) != len(columns):
            return ScoreTable.of_frame(read_table(path))
        table = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(delimiter=sep),
            convert_options=pcsv.ConvertOptions(
                include_columns=wanted, null_values=PANDAS_NA, strings_can_be_null=True
            ),
        )
    except Exception:  # Arrow could not read it: the pandas reading reports or copes as before
        return ScoreTable.of_frame(read_table(path))
    return ScoreTable(columns, table, lambda: read_table(path))
